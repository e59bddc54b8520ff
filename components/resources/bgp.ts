import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BgpSettings, RouteReflector, buildBgpConfiguration, buildBgpPeers, buildRouteReflectorNodePatch } from "../builders/bgp";
import { FelixSettings, buildFelixConfiguration } from "../builders/felixSettings";

export interface BgpArgs {
    /** `calico:bgp`: AS number, mesh, log level, advertised service ranges and external peers. */
    bgp: BgpSettings;
    /** Felix knobs for the default FelixConfiguration (builders/felixSettings.ts). */
    felix: FelixSettings;
    /** Nodes that reflect routes, with their cluster IDs. */
    routeReflectors: RouteReflector[];
}

/**
 * BGP topology and Felix knobs on the Kubernetes datastore. The default BGPConfiguration waits for the
 * peers and the reflector marks, so the mesh is switched off only once the routes have another way
 * through, as the field procedure does it.
 */
export class Bgp extends pulumi.ComponentResource {
    public readonly peers: Record<string, k8s.apiextensions.CustomResource> = {};
    public readonly routeReflectorNodes: Record<string, k8s.core.v1.NodePatch> = {};
    public readonly bgpConfiguration: k8s.apiextensions.CustomResourcePatch;
    public readonly felixConfiguration?: k8s.apiextensions.CustomResourcePatch;

    constructor(name: string, args: BgpArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:Bgp", name, {}, opts);
        const reflectors = args.routeReflectors;

        for (const rr of reflectors) {
            // A patch, not a Node: the kubelet owns the Node; we own one label and one annotation.
            this.routeReflectorNodes[rr.nodeName] = new k8s.core.v1.NodePatch(
                `${rr.nodeName}-route-reflector`,
                buildRouteReflectorNodePatch(rr) as k8s.core.v1.NodePatchArgs,
                { parent: this },
            );
        }
        for (const [peerName, obj] of Object.entries(buildBgpPeers(args.bgp.peers, reflectors))) {
            this.peers[peerName] = new k8s.apiextensions.CustomResource(
                `bgppeer-${peerName}`,
                obj as k8s.apiextensions.CustomResourceArgs,
                { parent: this },
            );
        }

        const bgpConfig = buildBgpConfiguration(args.bgp);
        // A patch, since the singleton may already exist (created by hand in the hard way).
        this.bgpConfiguration = new k8s.apiextensions.CustomResourcePatch(
            "bgpconfiguration-default",
            bgpConfig as k8s.apiextensions.CustomResourcePatchArgs,
            { parent: this, dependsOn: [...Object.values(this.peers), ...Object.values(this.routeReflectorNodes)] },
        );

        const felix = buildFelixConfiguration(args.felix);
        if (felix) {
            // calico/node creates the default FelixConfiguration at start-up; patch only our knobs into it.
            this.felixConfiguration = new k8s.apiextensions.CustomResourcePatch(
                "felixconfiguration-default",
                felix as k8s.apiextensions.CustomResourcePatchArgs,
                { parent: this },
            );
        }

        this.registerOutputs({
            peers: Object.keys(this.peers).sort(),
            routeReflectors: reflectors.map((r) => r.nodeName).sort(),
        });
    }
}
