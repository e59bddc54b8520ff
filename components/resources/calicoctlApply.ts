import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BgpSettings } from "../builders/bgp";
import type { FelixSettings } from "../builders/felixSettings";
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
import type { EtcdClient } from "./etcdClient";
import { thisStackName } from "./previousOutputs";

export interface CalicoctlApplyArgs {
    /** calico/ctl image. */
    image: string;
    /** IP pools, one IPPool each, named from the pool name. */
    pools: PoolConfig[];
    /** `calico:bgp`, as on the Kubernetes datastore. */
    bgp: BgpSettings;
    /** Felix knobs for the default FelixConfiguration. */
    felix: FelixSettings;
    /** IPPool and BGPPeer names this stack applied before (see previousApplied); the Job prunes what config dropped. */
    previous: pulumi.Input<AppliedNames>;
    /** The etcd client Secret and `calico-config` ConfigMap the Job mounts. */
    etcd: EtcdClient;
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
        // No inputs registered (see Calico). `previous` above all: it is history, not intent, and
        // registered it would show every run after a change as an update of this component.
        super("calico:index:CalicoctlApply", name, {}, opts);
        const image = args.image;
        const docs = calicoResourceDocuments({
            pools: args.pools,
            bgp: args.bgp,
            // Reflector cluster IDs live on Calico's Node resources, which calico-node creates: refused with etcd (rules/datastore.ts).
            reflectors: [],
            felix: args.felix,
        });
        const stream = renderResourceStream(docs);
        const current = appliedNames(docs);
        const previous = pulumi.output(args.previous).apply(asAppliedNames);

        const cm = buildResourcesConfigMap(stream);
        this.configMap = new k8s.core.v1.ConfigMap(cm.metadata.name, cm, { parent: this });
        const job = previous.apply((prev) => {
            const prune = pruneTargets(prev, current);
            return buildCalicoctlJob({ image, hash: contentHash(stream, prune), prune });
        });
        this.job = new k8s.batch.v1.Job(
            CALICOCTL_JOB,
            { apiVersion: "batch/v1", kind: "Job", metadata: job.metadata, spec: job.spec },
            { parent: this, dependsOn: [this.configMap, ...args.etcd.objects] },
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
    const self = new pulumi.StackReference(`${APPLIED_OUTPUT}-previous`, { name: thisStackName() }, { parent });
    return self.getOutput(APPLIED_OUTPUT).apply(asAppliedNames);
}
