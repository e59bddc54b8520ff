import { parseAutodetect } from "../autodetect";
import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";

/** calico/node rules: IP autodetection syntax, and a backend that can carry the pools' encapsulation. */
export function calicoNodeRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const n = cfg.calicoNode;
    const ad = parseAutodetect(n.ipAutodetectionMethod);
    if (!ad.ok) out.push(problem("calicoNode.ipAutodetectionMethod", n.ipAutodetectionMethod, `${ad.reason}.`));

    cfg.pools.forEach((pool, i) => {
        const key = itemKey("pools", pool, i);
        if (pool.ipipMode !== "Never" && n.backend !== "bird") {
            out.push(
                problem(
                    `${key}.ipipMode`,
                    pool.ipipMode,
                    `IPIP needs the bird backend (calicoNode.backend is ${n.backend}); set calicoNode.backend to bird or use vxlanMode.`,
                ),
            );
        }
        if (pool.vxlanMode !== "Never" && n.backend === "none") {
            out.push(
                problem(
                    `${key}.vxlanMode`,
                    pool.vxlanMode,
                    "VXLAN needs the vxlan or bird backend (calicoNode.backend is none); change the backend or set vxlanMode Never.",
                ),
            );
        }
    });
    if (!n.ipv6 && cfg.pools.some((p) => p.cidr.includes(":"))) {
        out.push(
            problem(
                "calicoNode.ipv6",
                n.ipv6,
                "an IPv6 pool is configured but IPv6 is off; set calicoNode.ipv6 true or remove the IPv6 pool.",
            ),
        );
    }
    const t = cfg.typha;
    if (t.replicas !== undefined && (t.replicas < 0 || t.replicas > 20)) {
        out.push(problem("typha.replicas", t.replicas, "use 0-20, or leave it unset to follow the node count as the operator does."));
    } else if (t.replicas !== undefined && cfg.nodes.length > 0 && t.replicas > cfg.nodes.length) {
        // Required anti-affinity puts one replica per node: the rest would stay Pending and `up` would time out.
        out.push(
            problem(
                "typha.replicas",
                t.replicas,
                `is more than the ${cfg.nodes.length} nodes, and each replica needs a node of its own; use at most ${cfg.nodes.length}.`,
            ),
        );
    }
    return out;
}
