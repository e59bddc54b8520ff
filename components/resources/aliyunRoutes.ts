import * as alicloud from "@pulumi/alicloud";
import * as pulumi from "@pulumi/pulumi";
import { RouteSummary, buildRouteEntries, routeSummary } from "../builders/aliyunRoutes";
import { ConfigError } from "../config/problems";
import { pickRouteTable } from "../config/rules/aliyun";
import type { ResolvedAliyun } from "../config/types";

/** `calico:aliyun` as resolved: region, route table or VPC, the routed nodes and the credentials. */
export type AliyunRoutesArgs = ResolvedAliyun;

/**
 * The only route table of a VPC, looked up through the provider. The look-up runs during preview and up,
 * so an ambiguous or empty answer fails the run, naming calico:aliyun.vpcId, before any entry is created.
 */
export function routeTableOfVpc(vpcId: string, region: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<string> {
    return alicloud.vpc.getRouteTablesOutput({ vpcId }, opts).apply((r) => {
        const pick = pickRouteTable(vpcId, region, r.tables);
        if (!pick.ok) throw new ConfigError([pick.problem]);
        return pick.routeTableId;
    });
}

/**
 * Non-tunnel mode on Alibaba Cloud: one VPC route entry per node, sending that node's pod CIDR to its ECS
 * instance, so the VPC forwards pod packets it would otherwise drop.
 */
export class AliyunRoutes extends pulumi.ComponentResource {
    public readonly routeTableId: pulumi.Output<string>;
    /** node → destination → next hop, one line per node sorted by node name. */
    public readonly routes: RouteSummary[];
    public readonly entries: Record<string, alicloud.vpc.RouteEntry> = {};

    constructor(name: string, args: AliyunRoutesArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:AliyunRoutes", name, {}, opts);
        const provider = new alicloud.Provider(
            `${name}-provider`,
            { region: args.region, accessKey: args.accessKey, secretKey: args.secretKey },
            { parent: this },
        );

        const t = args.table;
        this.routeTableId =
            "routeTableId" in t ? pulumi.output(t.routeTableId) : routeTableOfVpc(t.vpcId, args.region, { provider, parent: this });

        const specs = buildRouteEntries(args.nodes, this.routeTableId);
        for (const spec of specs) {
            this.entries[spec.node] = new alicloud.vpc.RouteEntry(
                spec.resourceName,
                {
                    routeTableId: spec.routeTableId,
                    destinationCidrblock: spec.destinationCidrblock,
                    nexthopType: spec.nexthopType,
                    nexthopId: spec.nexthopId,
                    name: spec.name,
                    description: spec.description,
                },
                // Every field forces replacement and a table can't hold two entries for one destination.
                { parent: this, provider, deleteBeforeReplace: true },
            );
        }
        this.routes = routeSummary(specs);
        this.registerOutputs({ routeTableId: this.routeTableId, routes: this.routes });
    }
}
