import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ETCD_ENDPOINTS_KEY, buildCalicoConfig, buildEtcdSecret } from "../builders/etcdClient";
import { ETCD_CERTS } from "../builders/pod";
import type { WorkloadDatastore } from "../builders/workloadTypes";
import type { EtcdTls } from "../config/types";
import { CALICO_NODE } from "../facts/names";
import { certHashOutput } from "./certHash";

/** The datastore as a workload component takes it: the Kubernetes API, or etcd with the client objects its pods mount. */
export type ClientDatastore = { type: "kubernetes" } | { type: "etcd"; endpoints: string[]; client: EtcdClient };

/** The builders' view of it: the type, and etcd's endpoints. */
export function workloadDatastore(d: ClientDatastore): WorkloadDatastore {
    return d.type === "etcd" ? { type: "etcd", endpoints: d.endpoints } : { type: "kubernetes" };
}

export interface EtcdClientArgs {
    endpoints: string[];
    tls: EtcdTls;
}

/**
 * What every etcd client pod mounts: the `calico-config` ConfigMap (endpoints) and the client TLS Secret.
 * Created before its three consumers (the calicoctl Job, calico-node, kube-controllers), which wait for it.
 */
export class EtcdClient extends pulumi.ComponentResource {
    public readonly configMap: k8s.core.v1.ConfigMap;
    public readonly secret: k8s.core.v1.Secret;
    /** The two objects, for the consumers' dependsOn. */
    public readonly objects: pulumi.Resource[];
    /** Hash of the CA, the client cert and the endpoints, for the consumers' pod templates. */
    public readonly certHash: pulumi.Output<string>;
    /** The same material by file name, for pods that hash it with their own (calico-node). */
    public readonly hashedMaterial: Record<string, pulumi.Input<string>>;

    constructor(name: string, args: EtcdClientArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico): here they would put the client key in this component's state.
        super("calico:index:EtcdClient", name, {}, opts);
        // The objects lived under CalicoNode before this component: the alias keeps them, no replacement.
        const movedFrom = { aliases: [{ parent: pulumi.createUrn(CALICO_NODE, "calico:index:CalicoNode", opts?.parent) }] };
        const cm = buildCalicoConfig(args.endpoints);
        const s = buildEtcdSecret({ ca: args.tls.caCert, cert: args.tls.cert, key: args.tls.key });
        this.configMap = new k8s.core.v1.ConfigMap(cm.metadata.name, cm, { parent: this, ...movedFrom });
        this.secret = new k8s.core.v1.Secret(
            s.metadata.name,
            { ...s, stringData: pulumi.secret(s.stringData) },
            { parent: this, ...movedFrom },
        );
        this.objects = [this.configMap, this.secret];
        // Endpoints are read from the ConfigMap at start, so a change must roll the pods too. Certificates
        // only, never the key (see podHash.ts).
        this.hashedMaterial = {
            [ETCD_CERTS.files.ca]: args.tls.caCert,
            [ETCD_CERTS.files.cert]: args.tls.cert,
            [ETCD_ENDPOINTS_KEY]: cm.data[ETCD_ENDPOINTS_KEY],
        };
        this.certHash = certHashOutput(this.hashedMaterial);
        this.registerOutputs({ certHash: this.certHash });
    }
}
