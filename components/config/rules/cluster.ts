import { Problem, SECRET_VALUE, problem } from "../problems";
import type { ParsedConfig } from "../schema";
import type { ConfigEnv, RawSecrets } from "../types";
import { CALICO_MINOR, CALICO_VERSION, isSupportedCalicoVersion } from "../../versions";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN ((RSA|EC) )?PRIVATE KEY-----[\s\S]+-----END ((RSA|EC) )?PRIVATE KEY-----/;

/** Cluster facts, the cluster CA, certificate settings and the version/registry pins. */
export function clusterRules(cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv): Problem[] {
    const out: Problem[] = [];
    const c = cfg.cluster;
    let url: URL | undefined;
    try {
        url = new URL(c.apiServer);
    } catch {
        url = undefined;
    }
    if (!url || url.protocol !== "https:" || url.hostname === "") {
        out.push(
            problem(
                "cluster.apiServer",
                c.apiServer,
                "is not an https URL; give the API server URL the nodes reach, e.g. https://10.0.0.10:6443.",
            ),
        );
    }

    // With cni.delivery daemonset no certificate is signed by the cluster CA (rules/delivery.ts refuses its keys).
    if (cfg.cni.delivery === "ssh") out.push(...clusterCaRules(cfg, secrets, env));
    if (c.networkMtu < 576 || c.networkMtu > 9216) {
        out.push(
            problem("cluster.networkMtu", c.networkMtu, "is out of range; use the hosts' interface MTU, 576-9216 (1500 on most networks)."),
        );
    }

    const pki = cfg.pki;
    if (![2048, 3072, 4096].includes(pki.rsaBits)) {
        out.push(problem("pki.rsaBits", pki.rsaBits, "use 2048, 3072 or 4096."));
    }
    if (pki.validityHours < 24) {
        out.push(
            problem("pki.validityHours", pki.validityHours, "certificates would expire within a day; use at least 24 (8760 is one year)."),
        );
    }
    if (pki.earlyRenewalHours < 0 || pki.earlyRenewalHours >= pki.validityHours) {
        out.push(
            problem(
                "pki.earlyRenewalHours",
                pki.earlyRenewalHours,
                `must be at least 0 and below pki.validityHours (${pki.validityHours}).`,
            ),
        );
    }

    // RBAC, env and the CRD handling follow one minor release; its patch releases change none of them.
    if (!isSupportedCalicoVersion(cfg.calicoVersion)) {
        out.push(
            problem(
                "calicoVersion",
                cfg.calicoVersion,
                `is not a ${CALICO_MINOR}.x patch release; this program's RBAC, env and CRD handling are written for Calico ${CALICO_MINOR}, so use ${CALICO_VERSION} or another ${CALICO_MINOR}.x.`,
            ),
        );
    }
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(\/[a-z0-9._-]+)*$/.test(cfg.registry)) {
        out.push(problem("registry", cfg.registry, "is not a registry host (and optional path); e.g. quay.io or docker.m.daocloud.io."));
    }
    return out;
}

/** The cluster CA that signs the calico-cni client certificate: from config, or read over SSH from a node. */
function clusterCaRules(cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv): Problem[] {
    const out: Problem[] = [];
    const c = cfg.cluster;
    const fromNode = c.caFromNode !== undefined;
    const given = c.caCert !== undefined || secrets.clusterCaKey !== undefined;
    if (fromNode && given) {
        out.push(
            problem(
                "cluster.caFromNode",
                c.caFromNode,
                "and cluster.caCert/calico:clusterCaKey are both set; keep one source of the cluster CA.",
            ),
        );
    } else if (fromNode) {
        if (!cfg.nodes.some((n) => n.name === c.caFromNode)) {
            out.push(
                problem(
                    "cluster.caFromNode",
                    c.caFromNode,
                    "names no node in calico:nodes; name the control-plane node that holds /etc/kubernetes/pki/ca.key.",
                ),
            );
        }
    } else {
        if (c.caCert === undefined) {
            out.push(
                problem(
                    "cluster.caCert",
                    undefined,
                    "the cluster CA is missing; set cluster.caCert (PEM of /etc/kubernetes/pki/ca.crt) and the secret calico:clusterCaKey, or set cluster.caFromNode to read both over SSH.",
                ),
            );
        } else if (!PEM_CERT.test(c.caCert)) {
            out.push(problem("cluster.caCert", "(not PEM)", "is not a PEM certificate; paste the content of /etc/kubernetes/pki/ca.crt."));
        }
        if (secrets.clusterCaKey === undefined) {
            out.push(
                problem(
                    "clusterCaKey",
                    undefined,
                    "the cluster CA key is missing; run `pulumi config set --secret calico:clusterCaKey < /etc/kubernetes/pki/ca.key`, or set cluster.caFromNode.",
                ),
            );
        } else if (!env.secretValuesHidden && !PEM_KEY.test(secrets.clusterCaKey)) {
            out.push(problem("clusterCaKey", SECRET_VALUE, "is not a PEM private key; set it from /etc/kubernetes/pki/ca.key."));
        }
    }
    return out;
}
