import { problem, type Problem } from "../config/problems";

/** The ECS next-hop type of a VPC route entry. */
export const NEXT_HOP_INSTANCE = "Instance";

/** A node as the route builder needs it; validation guarantees both fields when routes are on. */
export interface RoutedNode {
    name: string;
    podCidr: string;
    instanceId: string;
}

/** One VPC route entry: the node's pod CIDR through the node's ECS instance. */
export interface RouteEntrySpec<T = string> {
    /** Pulumi resource name, from the node name so adding or removing a node touches only its route. */
    resourceName: string;
    node: string;
    routeTableId: T;
    destinationCidrblock: string;
    nexthopType: typeof NEXT_HOP_INSTANCE;
    nexthopId: string;
    /** Entry name shown in the VPC console (1-128 characters). */
    name: string;
    description: string;
}

/** One line of the `node → destination → next hop` output. */
export interface RouteSummary {
    node: string;
    destination: string;
    nextHopType: typeof NEXT_HOP_INSTANCE;
    nextHop: string;
}

export function routeResourceName(node: string): string {
    return `${node}-vpc-route`;
}

/** The route entries for every node, sorted by node name so config order never matters. */
export function buildRouteEntries<T>(nodes: RoutedNode[], routeTableId: T): RouteEntrySpec<T>[] {
    return (
        [...nodes]
            // Code-point order, not the locale's, so every machine computes the same output.
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
            .map((n) => ({
                resourceName: routeResourceName(n.name),
                node: n.name,
                routeTableId,
                destinationCidrblock: n.podCidr,
                nexthopType: NEXT_HOP_INSTANCE,
                nexthopId: n.instanceId,
                name: `calico-${n.name}`.slice(0, 128),
                // Kept constant per node: every field of an entry forces replacement.
                description: `Pod CIDR of Kubernetes node ${n.name} (Calico non-tunnel mode)`.slice(0, 256),
            }))
    );
}

export function routeSummary(entries: RouteEntrySpec<unknown>[]): RouteSummary[] {
    return entries.map((e) => ({ node: e.node, destination: e.destinationCidrblock, nextHopType: e.nexthopType, nextHop: e.nexthopId }));
}

/** The nodes that carry routes; validation has already refused nodes without a podCidr or instance id. */
export function routedNodes(nodes: { name: string; podCidr?: string; instanceId?: string }[]): RoutedNode[] {
    return nodes.map((n) => ({ name: n.name, podCidr: n.podCidr ?? "", instanceId: n.instanceId ?? "" }));
}

export type RouteTablePick = { ok: true; routeTableId: string } | { ok: false; problem: Problem };

/**
 * Picks the route table of a VPC from the route-table look-up. Only an unambiguous answer is taken: with
 * several tables, the right one is the table of the nodes' vSwitches, which only the user knows.
 */
export function pickRouteTable(vpcId: string, region: string, tables: { routeTableId: string }[]): RouteTablePick {
    const ids = tables.map((t) => t.routeTableId).sort();
    if (ids.length === 1) return { ok: true, routeTableId: ids[0] };
    if (ids.length === 0) {
        return {
            ok: false,
            problem: problem(
                "aliyun.vpcId",
                vpcId,
                `has no route table in region ${region}; check the VPC id and aliyun.region, or set aliyun.routeTableId.`,
            ),
        };
    }
    return {
        ok: false,
        problem: problem(
            "aliyun.vpcId",
            vpcId,
            `has ${ids.length} route tables (${ids.join(", ")}), so the one to use is ambiguous; set aliyun.routeTableId to the table associated with the nodes' vSwitches.`,
        ),
    };
}
