import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { buildIpPool } from "../builders/ippool";
import type { PoolConfig } from "../config/schema";

export interface IpPoolsArgs {
    pools: PoolConfig[];
}

/** One IPPool custom resource per configured pool, named from the pool name. */
export class IpPools extends pulumi.ComponentResource {
    public readonly pools: Record<string, k8s.apiextensions.CustomResource> = {};

    constructor(name: string, args: IpPoolsArgs, opts?: pulumi.ComponentResourceOptions) {
        // Inputs stay on the children: registered here they would show every change twice in `pulumi preview`.
        super("calico:index:IpPools", name, {}, opts);
        for (const pool of args.pools) {
            const obj = buildIpPool(pool) as k8s.apiextensions.CustomResourceArgs;
            this.pools[pool.name] = new k8s.apiextensions.CustomResource(`ippool-${pool.name}`, obj, { parent: this });
        }
        this.registerOutputs({ pools: Object.keys(this.pools) });
    }
}
