import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stripCrdDescriptions } from "../builders/crds";

export interface DatastoreArgs {
    /** The CRD manifest: a local crds.yaml (air-gapped) or the release URL (config/derive.ts). */
    crds: string;
    /** Keep the schemas' field descriptions (`calico:datastore.crdDescriptions`); else they are dropped. */
    descriptions: boolean;
}

/**
 * The Kubernetes API datastore: Calico's CRDs from the official manifest of the pinned release. Every
 * Calico custom resource and workload depends on this component, so CRDs update before anything else.
 */
export class Datastore extends pulumi.ComponentResource {
    public readonly crds: k8s.yaml.ConfigFile;
    /**
     * The CRD resources themselves, known once the manifest is parsed. Depend on these rather than on this
     * component: the manifest's CRDs register asynchronously, after a dependent may have expanded it.
     */
    public readonly crdResources: pulumi.Output<pulumi.Resource[]>;
    public readonly source: string;

    constructor(name: string, args: DatastoreArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:Datastore", name, {}, opts);
        this.source = args.crds;
        this.crds = new k8s.yaml.ConfigFile(
            `${name}-crds`,
            { file: this.source, transformations: args.descriptions ? [] : [stripCrdDescriptions] },
            { parent: this },
        );
        this.crdResources = this.crds.resources.apply((r) => Object.values(r) as pulumi.Resource[]);
        this.registerOutputs({ source: this.source });
    }
}
