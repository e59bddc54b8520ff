import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type CalicoNodeParams, buildCalicoNodeDaemonSet } from "../builders/calicoNode";
import { NODE_CERTS, TYPHA_CA } from "../builders/pod";
import { buildCertSecret } from "../builders/typha";
import { buildRbac, calicoNodeRules } from "../builders/workloadRbac";
import { CALICO_NODE, TYPHA } from "../facts/names";
import { certHashOutput } from "./certHash";
import type { ClientDatastore } from "./etcdClient";
import type { TlsIdentity } from "./pki";
import type { ServicesEndpoint } from "./servicesEndpoint";
import { TYPHA_COMPONENT, type Typha } from "./typha";

/**
 * Where calico-node keeps its state: the Kubernetes API, through Typha with mutual TLS when Typha runs,
 * or etcd through its client Secret and ConfigMap. Typha exists only on the Kubernetes datastore (config
 * validation refuses it with etcd); the type admits no other pairing.
 */
export type CalicoNodeDatastore =
    { type: "kubernetes"; typha?: { service: Typha; tls: TlsIdentity } } | Extract<ClientDatastore, { type: "etcd" }>;

/** The DaemonSet's settings as the builder takes them, but for what this component derives itself. */
export interface CalicoNodeArgs extends Omit<CalicoNodeParams, "datastore" | "typhaServiceName" | "certHash" | "serviceAccountName"> {
    datastore: CalicoNodeDatastore;
    /** With the eBPF dataplane: the API server's address, which the pods take as env. */
    servicesEndpoint?: ServicesEndpoint;
    /** Something the DaemonSet waits for, e.g. the Job that writes the IP pools to etcd. */
    waitFor?: pulumi.Resource;
    /**
     * What the hosts' CNI installs take their inputs from, none of them per node (the calico-cni certificate).
     * On destroy the engine deletes deepest dependency chains first; depending on these puts the DaemonSet's
     * delete no later than the installs', whose dataplane cleanup waits for Felix to stop. Without them
     * (etcd: no Typha chain) the installs ran first, gave up waiting, and left Calico's rules behind.
     */
    hostInputs?: pulumi.Resource[];
}

/** calico/node on every node: RBAC, its Typha client Secret and the DaemonSet. */
export class CalicoNode extends pulumi.ComponentResource {
    public readonly daemonSet: k8s.apps.v1.DaemonSet;
    public readonly image: pulumi.Output<string>;
    public readonly ipAutodetectionMethod: pulumi.Output<string>;

    constructor(name: string, args: CalicoNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico): here they would put the client key in this component's state.
        super("calico:index:CalicoNode", name, {}, opts);
        const { datastore, servicesEndpoint, waitFor, hostInputs, ...params } = args;
        const parent = { parent: this };

        const rbac = buildRbac(CALICO_NODE, calicoNodeRules(datastore.type));
        const sa = new k8s.core.v1.ServiceAccount(CALICO_NODE, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(CALICO_NODE, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(CALICO_NODE, rbac.clusterRoleBinding, { parent: this, dependsOn: [sa, role] });

        // What the pods read only at start, hashed into the template so a change rolls them.
        const material: Record<string, pulumi.Input<string>> = {};
        const dependsOn: pulumi.Resource[] = [binding];
        const typha = datastore.type === "kubernetes" ? datastore.typha : undefined;
        if (typha) {
            const s = buildCertSecret(NODE_CERTS, CALICO_NODE, typha.tls.certPem, typha.tls.keyPem);
            // Typha created this Secret before calico-node owned it: the alias keeps it, no replacement.
            const movedFrom = { aliases: [{ parent: pulumi.createUrn(TYPHA_COMPONENT, "calico:index:Typha", opts?.parent) }] };
            const certs = new k8s.core.v1.Secret(
                NODE_CERTS.object,
                { ...s, stringData: pulumi.secret(s.stringData) },
                { ...parent, ...movedFrom },
            );
            material[TYPHA_CA.files.ca] = typha.tls.caPem;
            material[NODE_CERTS.files.cert] = typha.tls.certPem;
            // The provider waits for the Deployment's rollout, so Typha is ready before Felix dials it.
            dependsOn.push(typha.service.deployment, typha.service.caConfigMap, certs);
        }
        if (datastore.type === "etcd") {
            Object.assign(material, datastore.client.hashedMaterial);
            dependsOn.push(...datastore.client.objects);
        }
        if (servicesEndpoint) {
            Object.assign(material, servicesEndpoint.hashed);
            dependsOn.push(servicesEndpoint.configMap);
        }

        const common = { ...params, certHash: certHashOutput(material), serviceAccountName: rbac.serviceAccount.metadata.name };
        const ds = buildCalicoNodeDaemonSet(
            datastore.type === "etcd"
                ? { ...common, datastore: { type: "etcd", endpoints: datastore.endpoints } }
                : { ...common, datastore: { type: "kubernetes" }, typhaServiceName: typha ? TYPHA : undefined },
        );
        // No per-node resource among the dependencies: a node that is down must not hold up the DaemonSet.
        // On destroy each node's cleanup (its cni-install, see cniHost.ts) waits for calico-node to stop on its host instead.
        this.daemonSet = new k8s.apps.v1.DaemonSet(CALICO_NODE, ds, {
            parent: this,
            dependsOn: [...dependsOn, ...(waitFor ? [waitFor] : []), ...(hostInputs ?? [])],
        });

        this.image = pulumi.output(args.image);
        this.ipAutodetectionMethod = pulumi.output(args.ipAutodetectionMethod);
        this.registerOutputs({ image: this.image, ipAutodetectionMethod: this.ipAutodetectionMethod });
    }
}
