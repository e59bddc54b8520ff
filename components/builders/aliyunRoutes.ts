import type { RoutedNode } from "../config/types";

/** The ECS next-hop type of a VPC route entry. */
export const NEXT_HOP_INSTANCE = "Instance";

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
