import { contains, parseCidr, usableRange } from "../../facts/cidr";
import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";

/**
 * IPAM modes that take each node's Kubernetes podCIDR (host-local, spiderpool): the podCIDRs must be
 * known, sit in an enabled pool, and (host-local) no pool may use VXLAN.
 */
export function ipamRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const ipam = cfg.cni.ipam;
    if (ipam === "calico-ipam") return out;

    if (ipam === "host-local") {
        cfg.pools.forEach((pool, i) => {
            if (pool.vxlanMode !== "Never") {
                out.push(
                    problem(
                        `${itemKey("pools", pool, i)}.vxlanMode`,
                        pool.vxlanMode,
                        "VXLAN does not work with host-local IPAM (cni.ipam), as the operator also refuses; set vxlanMode Never (IPIP or no encapsulation) or use calico-ipam.",
                    ),
                );
            }
        });
    }

    const enabled = cfg.pools
        .filter((p) => !p.disabled)
        .flatMap((p) => {
            const c = parseCidr(p.cidr);
            return c.ok ? [c.cidr] : [];
        });
    cfg.nodes.forEach((node, i) => {
        const key = `${itemKey("nodes", node, i)}.podCidr`;
        if (node.podCidr === undefined) {
            out.push(
                problem(
                    key,
                    undefined,
                    `cni.ipam ${ipam} takes each node's Kubernetes podCIDR; set it to the output of \`kubectl get node ${node.name} -o jsonpath='{.spec.podCIDR}'\` (the controller-manager must run with --allocate-node-cidrs).`,
                ),
            );
            return;
        }
        const c = parseCidr(node.podCidr);
        if (!c.ok) return; // nodeRules reports the syntax.
        if (enabled.length > 0 && !enabled.some((pool) => contains(pool, c.cidr))) {
            out.push(
                problem(
                    key,
                    node.podCidr,
                    "is in no enabled pool, so Calico would neither route nor NAT its pods; widen or enable a pool that contains it.",
                ),
            );
        }
        if (ipam === "spiderpool" && usableRange(node.podCidr) === undefined) {
            out.push(
                problem(key, node.podCidr, "holds no usable address for a SpiderIPPool; give the node a larger podCIDR (e.g. a /24)."),
            );
        }
    });
    return out;
}
