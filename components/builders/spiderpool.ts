import * as ipaddr from "ipaddr.js";
import { MANAGED_BY_LABELS } from "./names";

/**
 * Spiderpool IPAM (the Alibaba Cloud field guide's non-tunnel mode): one SpiderIPPool per node, holding
 * that node's Kubernetes podCIDR, so every pod on a node gets an address from the node's own range and
 * the cloud's per-node routes stay right. Spiderpool itself is installed by the user.
 */

export const SPIDERPOOL_API_VERSION = "spiderpool.spidernet.io/v2beta1";

/** Adds `delta` (±1) to an address, as bytes, carrying across them. */
function step(addr: ipaddr.IPv4 | ipaddr.IPv6, delta: 1 | -1): string {
    const bytes = addr.toByteArray();
    for (let i = bytes.length - 1; i >= 0; i--) {
        const v = bytes[i] + delta;
        bytes[i] = (v + 256) % 256;
        if (v >= 0 && v <= 255) break;
    }
    return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The usable addresses of a podCIDR as one Spiderpool range `first-last`: the network address and (for
 * IPv4) the broadcast address are left out. Undefined when the CIDR holds no usable address.
 */
export function usableRange(cidr: string): string | undefined {
    const [addr, prefix] = ipaddr.parseCIDR(cidr);
    const v4 = addr.kind() === "ipv4";
    const bits = v4 ? 32 : 128;
    if (bits - prefix < 2) return undefined;
    const network = v4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    const last = v4 ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
    return `${step(network, 1)}-${v4 ? step(last, -1) : last.toString()}`;
}

export interface SpiderNode {
    name: string;
    /** The node's Kubernetes podCIDR. */
    podCidr: string;
}

/** The SpiderIPPool of one node: named after it, default for its pods, pinned to it by nodeName. */
export function buildSpiderIpPool(node: SpiderNode, clusterPodCidr: string): Record<string, unknown> {
    const range = usableRange(node.podCidr);
    return {
        apiVersion: SPIDERPOOL_API_VERSION,
        kind: "SpiderIPPool",
        metadata: { name: node.name, labels: { ...MANAGED_BY_LABELS } },
        spec: {
            // The pod network as the subnet and the node's range as its IPs, as the field guide writes them.
            subnet: clusterPodCidr,
            ips: range === undefined ? [] : [range],
            nodeName: [node.name],
            default: true,
        },
    };
}
