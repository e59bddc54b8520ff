import { Problem, SECRET_VALUE, itemKey, problem, qualifiedKey } from "../problems";
import type { ParsedConfig } from "../schema";
import type { ConfigEnv, RawSecrets } from "../types";

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN ((RSA|EC) )?PRIVATE KEY-----[\s\S]+-----END ((RSA|EC) )?PRIVATE KEY-----/;
const TLS_KEYS = [
    { key: "etcdCaCert", pem: PEM_CERT, what: "the etcd CA certificate (ca.pem)", kind: "a PEM certificate" },
    { key: "etcdCert", pem: PEM_CERT, what: "Calico's etcd client certificate", kind: "a PEM certificate" },
    { key: "etcdKey", pem: PEM_KEY, what: "the client certificate's private key", kind: "a PEM private key" },
] as const;

/** Reflector cluster IDs: on etcd they belong to Calico's Node resources, which calico-node creates itself. */
function etcdReflectors(cfg: ParsedConfig): { key: string; value: string }[] {
    return cfg.nodes.flatMap((n, i) =>
        n.routeReflectorClusterId !== undefined
            ? [{ key: `${itemKey("nodes", n, i)}.routeReflectorClusterId`, value: n.routeReflectorClusterId }]
            : [],
    );
}

/**
 * The datastore: etcd needs https endpoints and the client TLS material, and excludes Typha and route
 * reflectors. Pools, BGP and Felix settings work on both: with etcd a calicoctl Job applies them.
 */
export function datastoreRules(cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv): Problem[] {
    const out: Problem[] = [];
    const d = cfg.datastore;
    if (d.type === "kubernetes") {
        if (d.etcdEndpoints.length > 0) {
            out.push(
                problem(
                    "datastore.etcdEndpoints",
                    d.etcdEndpoints,
                    "is set but datastore.type is kubernetes; set datastore.type etcd or remove the endpoints.",
                ),
            );
        }
        for (const t of TLS_KEYS) {
            if (secrets[t.key] !== undefined) {
                out.push(
                    problem(
                        t.key,
                        SECRET_VALUE,
                        `is set but datastore.type is kubernetes; set datastore.type etcd or run \`pulumi config rm calico:${t.key}\`.`,
                    ),
                );
            }
        }
        // Read when the Datastore registers, after other resources: a missing file must stop the run before any.
        if (d.crdsFile !== undefined && env.fileSha256(d.crdsFile) === undefined) {
            out.push(
                problem(
                    "datastore.crdsFile",
                    d.crdsFile,
                    "does not exist (a relative path is from the project directory); give the path of Calico's crds.yaml, or remove it to apply the release's CRDs.",
                ),
            );
        }
        return out;
    }

    if (d.etcdEndpoints.length === 0) {
        out.push(
            problem(
                "datastore.etcdEndpoints",
                d.etcdEndpoints,
                "no etcd endpoints; list the etcd client URLs, e.g. https://172.16.0.11:2379.",
            ),
        );
    }
    for (const endpoint of d.etcdEndpoints) {
        let url: URL | undefined;
        try {
            url = new URL(endpoint);
        } catch {
            url = undefined;
        }
        if (!url || !["http:", "https:"].includes(url.protocol) || url.hostname === "" || (url.pathname !== "/" && url.pathname !== "")) {
            out.push(problem("datastore.etcdEndpoints", endpoint, "is not an etcd client URL; write it as https://<host>:2379."));
        } else if (url.protocol === "http:") {
            // calico-node and the CNI plugin here always use the client TLS files; plain http would leave them unused.
            out.push(
                problem(
                    "datastore.etcdEndpoints",
                    endpoint,
                    "is plain http; Calico's etcd clients here always use TLS, so use the https client URL (usually port 2379).",
                ),
            );
        }
    }
    for (const t of TLS_KEYS) {
        const v = secrets[t.key];
        if (v === undefined) {
            out.push(
                problem(
                    t.key,
                    undefined,
                    `the etcd datastore needs ${t.what}; run \`pulumi config set --secret ${qualifiedKey(t.key)} < file.pem\`.`,
                ),
            );
        } else if (!env.secretValuesHidden && !t.pem.test(v)) {
            out.push(problem(t.key, SECRET_VALUE, `is not ${t.kind}; set it from the PEM file.`));
        }
    }

    const t = cfg.typha;
    if (t.enabled === true) {
        out.push(
            problem(
                "typha.enabled",
                true,
                "Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
            ),
        );
    }
    if (t.replicas !== undefined) {
        out.push(
            problem(
                "typha.replicas",
                t.replicas,
                "Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
            ),
        );
    }
    if (t.tolerateControlPlane) {
        out.push(
            problem(
                "typha.tolerateControlPlane",
                true,
                "Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
            ),
        );
    }
    for (const r of etcdReflectors(cfg)) {
        out.push(
            problem(
                r.key,
                r.value,
                "is not supported with the etcd datastore: the cluster ID belongs on Calico's Node resource, which calico-node creates in etcd; remove it and run `calicoctl patch node` once the node is up (see the calicoctlConfig output), or use datastore.type kubernetes.",
            ),
        );
    }
    return out;
}
