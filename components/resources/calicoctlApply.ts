import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { BgpSettingsArgs, DEFAULT_AS_NUMBER } from "../builders/bgp";
import {
    APPLIED_OUTPUT,
    AppliedNames,
    CALICOCTL_JOB,
    appliedNames,
    asAppliedNames,
    buildCalicoctlJob,
    buildResourcesConfigMap,
    calicoResourceDocuments,
    contentHash,
    nextApplied,
    pruneTargets,
    renderResourceStream,
} from "../builders/calicoctlApply";
import type { PoolConfig } from "../config/schema";
import { CALICO_VERSION, DEFAULT_REGISTRY, calicoImages } from "../versions";

export interface CalicoctlApplyArgs extends BgpSettingsArgs {
    /** calico/ctl image. Defaults to quay.io/calico/ctl at the pinned Calico version. */
    image?: string;
    /** IP pools, one IPPool each, named from the pool name. Defaults to none. */
    pools?: PoolConfig[];
    /** IPPool and BGPPeer names this stack applied before (see previousApplied). Defaults to none: nothing is pruned. */
    previous?: pulumi.Input<AppliedNames>;
    /** The etcd client Secret and `calico-config` ConfigMap the Job mounts (CalicoNode.etcdObjects). Defaults to none. */
    etcdObjects?: pulumi.Resource[];
}

/**
 * Calico's resources on the etcd datastore, where there are no CRDs: the `calico-resources` ConfigMap
 * holds them as one `projectcalico.org/v3` stream, and a Job applies it with calicoctl, then deletes the
 * IPPools and BGPPeers this stack applied before and no longer configures. The provider waits for the
 * Job to complete.
 */
export class CalicoctlApply extends pulumi.ComponentResource {
    public readonly configMap: k8s.core.v1.ConfigMap;
    public readonly job: k8s.batch.v1.Job;
    /** Kubernetes name of the Job, `calicoctl-apply-<hash>`. */
    public readonly jobName: pulumi.Output<string>;
    /** Every IPPool and BGPPeer name applied so far; export it as the `calicoctlApplied` stack output. Known once the Job completes. */
    public readonly applied: pulumi.Output<AppliedNames>;

    constructor(name: string, args: CalicoctlApplyArgs, opts?: pulumi.ComponentResourceOptions) {
        // etcdObjects are children of CalicoNode, whose DaemonSet waits for this component: registering
        // them as inputs would make each registration wait for the other. previous is history, not
        // intent: registered, it would show every run after a change as an update of this component.
        super("calico:index:CalicoctlApply", name, { ...args, etcdObjects: undefined, previous: undefined }, opts);
        const image = args.image ?? calicoImages(CALICO_VERSION, DEFAULT_REGISTRY).ctl;
        const docs = calicoResourceDocuments({
            pools: args.pools ?? [],
            bgp: {
                asNumber: args.asNumber ?? DEFAULT_AS_NUMBER,
                nodeToNodeMesh: args.nodeToNodeMesh ?? true,
                logSeverity: args.logSeverity ?? "Info",
                serviceClusterIPs: args.serviceClusterIPs ?? [],
                serviceExternalIPs: args.serviceExternalIPs ?? [],
            },
            peers: args.peers ?? [],
            // Reflector cluster IDs live on Calico's Node resources, which calico-node creates: refused with etcd (rules/datastore.ts).
            reflectors: [],
            felix: args.felix ?? {},
        });
        const stream = renderResourceStream(docs);
        const current = appliedNames(docs);
        const previous = pulumi.output(args.previous ?? { ipPools: [], bgpPeers: [] }).apply(asAppliedNames);

        const cm = buildResourcesConfigMap(stream);
        this.configMap = new k8s.core.v1.ConfigMap(cm.metadata.name, cm, { parent: this });
        const job = previous.apply((prev) => {
            const prune = pruneTargets(prev, current);
            return buildCalicoctlJob({ image, hash: contentHash(stream, prune), prune });
        });
        this.job = new k8s.batch.v1.Job(
            CALICOCTL_JOB,
            { apiVersion: "batch/v1", kind: "Job", metadata: job.metadata, spec: job.spec },
            { parent: this, dependsOn: [this.configMap, ...(args.etcdObjects ?? [])] },
        );
        this.jobName = this.job.metadata.name;
        // Recorded only once the Job has run, so a failed run prunes the same names next time.
        this.applied = pulumi.all([this.job.metadata, previous]).apply(([, prev]) => nextApplied(prev, current));

        this.registerOutputs({ jobName: this.jobName, applied: this.applied });
    }
}

/**
 * This stack's own `calicoctlApplied` output from its last update: the names the next Job may prune.
 * Read through a StackReference to the current stack; a stack that never exported it prunes nothing.
 */
export function previousApplied(parent: pulumi.Resource): pulumi.Output<AppliedNames> {
    // Fully qualified: a bare stack name would resolve against the user's default organization.
    const name = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const self = new pulumi.StackReference(`${APPLIED_OUTPUT}-previous`, { name }, { parent });
    return self.getOutput(APPLIED_OUTPUT).apply(asAppliedNames);
}
