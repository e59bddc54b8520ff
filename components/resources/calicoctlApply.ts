import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BgpSettings } from "../builders/bgp";
import type { FelixSettings } from "../builders/felixSettings";
import {
    AppliedNames,
    CALICOCTL_JOB,
    appliedNames,
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

export interface CalicoctlApplyArgs {
    /** calico/ctl image. */
    image: string;
    /** IP pools, one IPPool each, named from the pool name. */
    pools: PoolConfig[];
    /** `calico:bgp`, as on the Kubernetes datastore. */
    bgp: BgpSettings;
    /** Felix knobs for the default FelixConfiguration. */
    felix: FelixSettings;
    /** IPPool and BGPPeer names this stack applied before (readPreviousOutputs); the Job prunes what config dropped. */
    previous: AppliedNames;
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
        const previous = args.previous;

        const cm = buildResourcesConfigMap(stream);
        this.configMap = new k8s.core.v1.ConfigMap(cm.metadata.name, cm, { parent: this });
        const prune = pruneTargets(previous, current);
        const job = buildCalicoctlJob({ image, hash: contentHash(stream, prune), prune });
        this.job = new k8s.batch.v1.Job(
            CALICOCTL_JOB,
            { apiVersion: "batch/v1", kind: "Job", metadata: job.metadata, spec: job.spec },
            { parent: this, dependsOn: [this.configMap, ...args.etcd.objects] },
        );
        this.jobName = this.job.metadata.name;
        // Recorded only once the Job has run, so a failed run prunes the same names next time.
        this.applied = this.job.metadata.apply(() => nextApplied(previous, current));

        this.registerOutputs({ jobName: this.jobName, applied: this.applied });
    }
}
