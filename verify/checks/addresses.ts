import type { AutodetectMethod } from "../../components/config/autodetect";
import { addressOf, coveringCidr, ipIn } from "../net";
import type { NodeFact } from "../facts";
import { type CheckResult, result } from "../types";

export interface AddressFacts {
    nodes: NodeFact[];
    method: AutodetectMethod;
    /** The configured method as written (`calicoNode.ipAutodetectionMethod`). */
    methodText: string;
    /** `can-reach=<host>` resolved on this machine; the address itself for `can-reach=<ip>`. */
    canReachIp?: string;
}

/** Where the chosen address may lie besides the node's InternalIP: the configured cidr=, or the network of the can-reach target. */
function inConfiguredNetwork(calicoAddress: string, f: AddressFacts): boolean {
    const ip = addressOf(calicoAddress);
    if (f.method.kind === "cidr") return f.method.cidrs.some((c) => ipIn(ip, c));
    // The annotation carries the interface's prefix: the target lies in that network when the interface faces it.
    if (f.method.kind === "can-reach" && f.canReachIp !== undefined) return ipIn(f.canReachIp, calicoAddress);
    return false;
}

/**
 * Each node's Calico address (what autodetection chose) is unique, and is its InternalIP or lies in the
 * configured network. Names duplicates and mismatches and suggests a method that picks the right interface.
 */
export function checkAddresses(f: AddressFacts): CheckResult {
    const details: string[] = [];
    const byAddress = new Map<string, string[]>();
    let matching = 0;
    const nodes = [...f.nodes].sort((a, b) => a.name.localeCompare(b.name));
    for (const n of nodes) {
        if (!n.calicoAddress) {
            details.push(`${n.name}: no ${"projectcalico.org/IPv4Address"} annotation (calico-node has not autodetected an address there)`);
            continue;
        }
        const ip = addressOf(n.calicoAddress);
        byAddress.set(ip, [...(byAddress.get(ip) ?? []), n.name]);
        if (ip === n.internalIp || inConfiguredNetwork(n.calicoAddress, f)) matching++;
        else details.push(`${n.name}: Calico chose ${n.calicoAddress}, its InternalIP is ${n.internalIp ?? "(none)"}`);
    }
    for (const [ip, names] of [...byAddress].sort()) {
        if (names.length > 1) details.unshift(`${ip}: chosen on ${names.length} nodes (${names.join(", ")}); every node needs its own`);
    }
    const figures = `${byAddress.size} unique addresses on ${nodes.length} nodes; ${matching} are the InternalIP or in the configured network (${f.methodText})`;
    if (details.length === 0) return result("Node addresses", "pass", figures);
    const internal = nodes.flatMap((n) => (n.internalIp ? [n.internalIp] : []));
    const cidr = internal.length === nodes.length ? coveringCidr(internal) : undefined;
    const suggestions = ["kubernetes-internal-ip", ...(cidr ? [`cidr=${cidr}`] : [])].map((s) => `calicoNode.ipAutodetectionMethod: ${s}`);
    return result(
        "Node addresses",
        "fail",
        figures,
        details,
        `set ${suggestions.join(" (picks each node's InternalIP), or ")}${cidr ? " (holds every InternalIP)" : " (picks each node's InternalIP)"}, then \`pulumi up\`; calico-node re-detects on restart.`,
    );
}
