import { parseAutodetect } from "../autodetect";
import { contains, isIp, parseCidr } from "../../facts/cidr";
import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";

const isV6 = (cidr: string) => parseCidr(cidr).ok && cidr.includes(":");

/**
 * Dual-stack: IPv4 pools inside cluster.podCidr (network rules), IPv6 pools inside cluster.podCidrV6, and
 * with calicoNode.ipv6 both families present. The CNI plugin then assigns an address of each family to
 * every pod (assign_ipv4/assign_ipv6), which calico-ipam can only do from enabled pools of both.
 */
export function dualStackRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const c = cfg.cluster;
    const n = cfg.calicoNode;
    const pod = parseCidr(c.podCidr);
    if (pod.ok && pod.cidr.kind === "ipv6") {
        out.push(
            problem(
                "cluster.podCidr",
                c.podCidr,
                "is IPv6; this program installs IPv4 or dual-stack clusters, so set cluster.podCidr to the IPv4 pod range and this one as cluster.podCidrV6.",
            ),
        );
    }
    const v6Range = c.podCidrV6 === undefined ? undefined : parseCidr(c.podCidrV6);
    if (c.podCidrV6 !== undefined && v6Range !== undefined) {
        if (!v6Range.ok) {
            const bad = v6Range.reason.startsWith("is not a CIDR");
            out.push(
                problem(
                    "cluster.podCidrV6",
                    c.podCidrV6,
                    bad ? "is not a CIDR; write it as address/prefix, e.g. fd00:10:244::/56." : `${v6Range.reason}.`,
                ),
            );
        } else if (v6Range.cidr.kind !== "ipv6")
            out.push(
                problem("cluster.podCidrV6", c.podCidrV6, "is not an IPv6 CIDR; give the cluster's IPv6 pod range, e.g. fd00:10:244::/56."),
            );
        if (!n.ipv6) {
            out.push(
                problem(
                    "cluster.podCidrV6",
                    c.podCidrV6,
                    "is set but calicoNode.ipv6 is false, so no pod gets an IPv6 address; set calicoNode.ipv6 true for dual-stack, or remove it.",
                ),
            );
        }
    }

    const podIsV4 = !pod.ok || pod.cidr.kind === "ipv4";
    cfg.pools.forEach((p, i) => {
        if (!isV6(p.cidr)) return;
        const key = itemKey("pools", p, i);
        if (p.ipipMode !== "Never") {
            out.push(
                problem(
                    `${key}.ipipMode`,
                    p.ipipMode,
                    "IPIP carries IPv4 only, and this is an IPv6 pool; set ipipMode Never (use vxlanMode for an IPv6 overlay).",
                ),
            );
        }
        if (!podIsV4) return; // cluster.podCidr is refused above.
        if (c.podCidrV6 === undefined) {
            out.push(
                problem(
                    `${key}.cidr`,
                    p.cidr,
                    "is an IPv6 pool but cluster.podCidrV6 is unset; set it to the cluster's IPv6 pod range (kubeadm --pod-network-cidr=<ipv4>,<ipv6>).",
                ),
            );
        } else if (v6Range?.ok && v6Range.cidr.kind === "ipv6") {
            const cidr = parseCidr(p.cidr);
            if (cidr.ok && !contains(v6Range.cidr, cidr.cidr))
                out.push(problem(`${key}.cidr`, p.cidr, `is outside cluster.podCidrV6 ${c.podCidrV6}; pick a range inside it.`));
        }
    });

    if (n.ipv6) {
        const enabled = cfg.pools.filter((p) => !p.disabled);
        if (c.podCidrV6 === undefined) {
            out.push(
                problem(
                    "cluster.podCidrV6",
                    undefined,
                    "calicoNode.ipv6 makes the cluster dual-stack, which needs its IPv6 pod range; set cluster.podCidrV6 (kubeadm --pod-network-cidr=<ipv4>,<ipv6>).",
                ),
            );
        }
        if (!enabled.some((p) => isV6(p.cidr))) {
            out.push(
                problem(
                    "calicoNode.ipv6",
                    true,
                    "no enabled IPv6 pool, so the CNI plugin could not give pods their IPv6 address; add an IPv6 pool inside cluster.podCidrV6 (blockSize 122 is Calico's default), or set calicoNode.ipv6 false.",
                ),
            );
        }
        if (cfg.cni.ipam !== "calico-ipam") {
            out.push(
                problem(
                    "cni.ipam",
                    cfg.cni.ipam,
                    "dual-stack (calicoNode.ipv6) is built here for calico-ipam, which assigns each pod an address of both families; use cni.ipam calico-ipam or set calicoNode.ipv6 false.",
                ),
            );
        }
    }

    const m6 = n.ipv6AutodetectionMethod;
    if (m6 !== undefined) {
        const key = "calicoNode.ipv6AutodetectionMethod";
        const ad = parseAutodetect(m6);
        if (!n.ipv6) {
            out.push(problem(key, m6, "is set but calicoNode.ipv6 is false; set calicoNode.ipv6 true or remove it."));
        } else if (!ad.ok) {
            out.push(problem(key, m6, `${ad.reason}.`));
        } else if (ad.method.kind === "cidr" && ad.method.cidrs.some((x) => !x.includes(":"))) {
            out.push(problem(key, m6, "lists an IPv4 range; the IPv6 method needs IPv6 ranges, e.g. cidr=fd00:172:16::/64."));
        } else if (ad.method.kind === "can-reach" && isIp(ad.method.destination) && !ad.method.destination.includes(":")) {
            out.push(
                problem(
                    key,
                    m6,
                    "names an IPv4 address; the IPv6 method needs an IPv6 address or a host name, e.g. can-reach=2001:4860:4860::8888.",
                ),
            );
        }
    }
    return out;
}
