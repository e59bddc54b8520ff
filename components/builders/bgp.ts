import type { BgpPeerConfig, ParsedConfig } from "../config/schema";
import { CALICO_CRD_API_VERSION, MANAGED_BY_LABELS, PROJECT_SLUG, ROUTE_REFLECTOR_LABEL, RR_PEER_NAMES } from "../facts/names";

/**
 * Calico's BGP topology and Felix knobs as custom resources on the Kubernetes datastore: the default
 * BGPConfiguration, BGPPeers (route reflectors and external routers) and the route-reflector marks on the
 * Kubernetes Nodes. The default FelixConfiguration, patched the same way, is builders/felixSettings.ts.
 */

/** Both singletons Calico reads are named `default`. */
export const DEFAULT_NAME = "default";
/** On the Kubernetes datastore Calico reads a node's `spec.bgp.routeReflectorClusterID` from this annotation. */
export const RR_CLUSTER_ID_ANNOTATION = "projectcalico.org/RouteReflectorClusterID";
export const RR_SELECTOR = `has(${ROUTE_REFLECTOR_LABEL})`;
export const NON_RR_SELECTOR = `!has(${ROUTE_REFLECTOR_LABEL})`;
/** Server-side apply field manager of every patch this program makes, so it owns only its own fields. */
export const FIELD_MANAGER = PROJECT_SLUG;

/** `calico:bgp` as resolved: the same on either datastore (CRD patches, or the calicoctl Job). */
export type BgpSettings = ParsedConfig["bgp"];

/** A node that reflects routes, with its cluster ID. */
export interface RouteReflector {
    nodeName: string;
    clusterId: string;
}

/**
 * Annotations that make a Pulumi patch resource apply only the fields it names, under our manager.
 * Forcing is safe here: only fields this program declares are in the patch.
 */
export const PATCH_ANNOTATIONS = { "pulumi.com/patchFieldManager": FIELD_MANAGER, "pulumi.com/patchForce": "true" } as const;

function cidrs(list: string[]): { cidr: string }[] | undefined {
    return list.length > 0 ? list.map((cidr) => ({ cidr })) : undefined;
}

/** The `default` BGPConfiguration; service CIDRs only when advertised, so Calico's defaults stand otherwise. */
export function buildBgpConfiguration(s: Omit<BgpSettings, "peers">): Record<string, unknown> {
    const spec: Record<string, unknown> = {
        asNumber: s.asNumber,
        nodeToNodeMeshEnabled: s.nodeToNodeMesh,
        logSeverityScreen: s.logSeverity,
    };
    const clusterIPs = cidrs(s.serviceClusterIPs);
    const externalIPs = cidrs(s.serviceExternalIPs);
    if (clusterIPs) spec.serviceClusterIPs = clusterIPs;
    if (externalIPs) spec.serviceExternalIPs = externalIPs;
    return {
        apiVersion: CALICO_CRD_API_VERSION,
        kind: "BGPConfiguration",
        metadata: { name: DEFAULT_NAME, labels: { ...MANAGED_BY_LABELS }, annotations: { ...PATCH_ANNOTATIONS } },
        spec,
    };
}

function bgpPeer(name: string, spec: Record<string, unknown>): Record<string, unknown> {
    return { apiVersion: CALICO_CRD_API_VERSION, kind: "BGPPeer", metadata: { name, labels: { ...MANAGED_BY_LABELS } }, spec };
}

/** Reflectors peer with each other; every other node peers with every reflector (the field procedure). */
export function buildRouteReflectorPeers(): Record<string, unknown>[] {
    return [
        bgpPeer(RR_PEER_NAMES.reflectors, { nodeSelector: RR_SELECTOR, peerSelector: RR_SELECTOR }),
        bgpPeer(RR_PEER_NAMES.nodes, { nodeSelector: NON_RR_SELECTOR, peerSelector: RR_SELECTOR }),
    ];
}

/** A router outside the cluster, peered by the nodes its selector picks (every node by default). */
export function buildExternalPeer(peer: BgpPeerConfig): Record<string, unknown> {
    return bgpPeer(peer.name, { peerIP: peer.peerIP, asNumber: peer.asNumber, nodeSelector: peer.nodeSelector });
}

/** Every BGPPeer, keyed by its name: the route-reflector pair when there are reflectors, then the external peers. */
export function buildBgpPeers(peers: BgpPeerConfig[], reflectors: RouteReflector[]): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    const all = [...(reflectors.length > 0 ? buildRouteReflectorPeers() : []), ...peers.map(buildExternalPeer)];
    for (const p of all) out[(p.metadata as { name: string }).name] = p;
    return out;
}

/** The fields this program sets on a Kubernetes Node to make it a reflector; nothing else of the Node. */
export function buildRouteReflectorNodePatch(rr: RouteReflector): Record<string, unknown> {
    return {
        metadata: {
            name: rr.nodeName,
            labels: { [ROUTE_REFLECTOR_LABEL]: "true" },
            annotations: { [RR_CLUSTER_ID_ANNOTATION]: rr.clusterId, ...PATCH_ANNOTATIONS },
        },
    };
}

/** Nodes config marks as reflectors. */
export function routeReflectors(nodes: { name: string; routeReflectorClusterId?: string }[]): RouteReflector[] {
    return nodes.flatMap((n) =>
        n.routeReflectorClusterId !== undefined ? [{ nodeName: n.name, clusterId: n.routeReflectorClusterId }] : [],
    );
}
