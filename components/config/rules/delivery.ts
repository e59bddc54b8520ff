import { Problem, SECRET_VALUE, problem } from "../problems";
import type { ParsedConfig } from "../schema";
import type { RawSecrets } from "../types";

const DAEMONSET_TOKEN =
    "with cni.delivery daemonset the CNI plugin authenticates with the calico-cni-plugin ServiceAccount's token, not a certificate from the cluster CA";

/**
 * Which keys need which `cni.delivery`. With `daemonset`, calico-node's install-cni writes the binaries (from
 * the calico/cni image), the conflist and a token kubeconfig on every node, so the SSH-side sources and the
 * cluster CA have no use, and the node list is no longer the cluster.
 */
export function deliveryRules(cfg: ParsedConfig, secrets: RawSecrets): Problem[] {
    if (cfg.cni.delivery !== "daemonset") return [];
    const out: Problem[] = [];
    const useSsh = "remove it, or set cni.delivery ssh to deliver the files over SSH.";
    if (cfg.cni.localBinDir !== undefined) {
        out.push(
            problem(
                "cni.localBinDir",
                cfg.cni.localBinDir,
                `with cni.delivery daemonset the binaries come from the calico/cni image; ${useSsh}`,
            ),
        );
    }
    for (const name of Object.keys(cfg.cni.downloads)) {
        out.push(
            problem(
                `cni.downloads.${name}`,
                cfg.cni.downloads[name]?.url,
                `with cni.delivery daemonset the binaries come from the calico/cni image; ${useSsh}`,
            ),
        );
    }
    const c = cfg.cluster;
    if (c.caCert !== undefined) out.push(problem("cluster.caCert", "(PEM)", `${DAEMONSET_TOKEN}; ${useSsh}`));
    if (c.caFromNode !== undefined) out.push(problem("cluster.caFromNode", c.caFromNode, `${DAEMONSET_TOKEN}; ${useSsh}`));
    if (secrets.clusterCaKey !== undefined) {
        out.push(
            problem(
                "clusterCaKey",
                SECRET_VALUE,
                `${DAEMONSET_TOKEN}; remove it with \`pulumi config rm calico:clusterCaKey\`, or set cni.delivery ssh.`,
            ),
        );
    }
    // The operator sizes Typha from the live node count; a stack that lists only some nodes cannot.
    const typhaRuns = cfg.datastore.type === "kubernetes" && cfg.typha.enabled !== false;
    if (typhaRuns && cfg.typha.replicas === undefined) {
        out.push(
            problem(
                "typha.replicas",
                undefined,
                "with cni.delivery daemonset calico:nodes need not list every node, so Typha cannot be sized from it; set typha.replicas for the cluster's size (the operator runs 3 up to 200 nodes, then one more per 200).",
            ),
        );
    }
    return out;
}
