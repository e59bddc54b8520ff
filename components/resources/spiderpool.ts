import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SpiderNode, buildSpiderIpPool } from "../builders/spiderpool";

export interface SpiderpoolArgs {
    /** Nodes with their Kubernetes podCIDRs; one SpiderIPPool each. */
    nodes: SpiderNode[];
    /** The cluster pod CIDR, the pools' subnet. */
    clusterPodCidr: string;
}

/**
 * The per-node SpiderIPPools for `cni.ipam: spiderpool`. Spiderpool (its CRDs and agents) must already be
 * installed; this component only adds the pools.
 */
export class Spiderpool extends pulumi.ComponentResource {
    public readonly pools: Record<string, k8s.apiextensions.CustomResource> = {};

    constructor(name: string, args: SpiderpoolArgs, opts?: pulumi.ComponentResourceOptions) {
        // Inputs stay on the children: registered here they would show every change twice in `pulumi preview`.
        super("calico:index:Spiderpool", name, {}, opts);
        for (const node of args.nodes) {
            this.pools[node.name] = new k8s.apiextensions.CustomResource(
                `${node.name}-spiderippool`,
                buildSpiderIpPool(node, args.clusterPodCidr) as k8s.apiextensions.CustomResourceArgs,
                { parent: this },
            );
        }
        this.registerOutputs({ pools: Object.keys(this.pools).sort() });
    }
}
