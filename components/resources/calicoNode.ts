import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type CalicoNodeParams, buildCalicoNodeDaemonSet } from "../builders/calicoNode";
import { NODE_CERTS, TYPHA_CA } from "../builders/pod";
import { buildRbac, calicoNodeRules } from "../builders/workloadRbac";
import { CALICO_NODE, TYPHA } from "../facts/names";
import { certHashOutput, withCertHash } from "./certHash";
import type { EtcdClient } from "./etcdClient";
import type { ServicesEndpoint } from "./servicesEndpoint";
import type { Typha } from "./typha";

/** The DaemonSet's settings as the builder takes them; Typha's name, the hash and the account come from here. */
export interface CalicoNodeArgs extends Omit<CalicoNodeParams, "typhaServiceName" | "certHash" | "serviceAccountName"> {
    /** With etcd: the client Secret and ConfigMap the pods mount. */
    etcd?: EtcdClient;
    /** Typha to connect through with mutual TLS; the DaemonSet waits for it to be ready. Unset: Felix talks to the datastore directly. */
    typha?: Typha;
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

/** calico/node on every node: RBAC and the DaemonSet. */
export class CalicoNode extends pulumi.ComponentResource {
    public readonly daemonSet: k8s.apps.v1.DaemonSet;
    public readonly image: pulumi.Output<string>;
    public readonly ipAutodetectionMethod: pulumi.Output<string>;

    constructor(name: string, args: CalicoNodeArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:CalicoNode", name, {}, opts);
        const { etcd, typha, servicesEndpoint, waitFor, hostInputs, ...params } = args;
        const datastore = params.datastore;
        if (datastore.type === "etcd" && typha) throw new Error("CalicoNode: Typha is not used with the etcd datastore");
        if (datastore.type === "etcd" && !etcd) throw new Error("CalicoNode: the etcd datastore needs its EtcdClient");
        const parent = { parent: this };

        const rbac = buildRbac(CALICO_NODE, calicoNodeRules(datastore.type));
        const sa = new k8s.core.v1.ServiceAccount(CALICO_NODE, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(CALICO_NODE, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(CALICO_NODE, rbac.clusterRoleBinding, { parent: this, dependsOn: [sa, role] });

        const material: Record<string, pulumi.Input<string>> = {};
        const dependsOn: pulumi.Resource[] = [binding];
        if (typha) {
            material[TYPHA_CA.files.ca] = typha.caCertPem;
            material[NODE_CERTS.files.cert] = typha.nodeCertPem;
            // The provider waits for the Deployment's rollout, so Typha is ready before Felix dials it.
            dependsOn.push(typha.deployment, typha.caConfigMap, typha.nodeCertsSecret);
        }
        if (etcd) {
            Object.assign(material, etcd.hashedMaterial);
            dependsOn.push(...etcd.objects);
        }
        if (servicesEndpoint) {
            Object.assign(material, servicesEndpoint.hashed);
            dependsOn.push(servicesEndpoint.configMap);
        }

        const ds = buildCalicoNodeDaemonSet({
            ...params,
            typhaServiceName: typha ? TYPHA : undefined,
            certHash: "",
            serviceAccountName: rbac.serviceAccount.metadata.name,
        });
        const template = withCertHash(ds.spec.template, certHashOutput(material));
        // No per-node resource among the dependencies: a node that is down must not hold up the DaemonSet.
        // On destroy each node's cleanup (its cni-install, see cniHost.ts) waits for calico-node to stop on its host instead.
        this.daemonSet = new k8s.apps.v1.DaemonSet(
            CALICO_NODE,
            { ...ds, spec: { ...ds.spec, template } },
            { parent: this, dependsOn: [...dependsOn, ...(waitFor ? [waitFor] : []), ...(hostInputs ?? [])] },
        );

        this.image = pulumi.output(args.image);
        this.ipAutodetectionMethod = pulumi.output(args.ipAutodetectionMethod);
        this.registerOutputs({ image: this.image, ipAutodetectionMethod: this.ipAutodetectionMethod });
    }
}
