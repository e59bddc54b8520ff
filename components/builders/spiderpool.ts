import { usableRange } from "../facts/cidr";
import { MANAGED_BY_LABELS, SPIDERPOOL_API_VERSION } from "../facts/names";

/**
 * Spiderpool IPAM (the Alibaba Cloud field guide's non-tunnel mode): one SpiderIPPool per node, holding
 * that node's Kubernetes podCIDR, so every pod on a node gets an address from the node's own range and
 * the cloud's per-node routes stay right. Spiderpool itself is installed by the user.
 */

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
