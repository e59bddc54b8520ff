import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { buildKubeControllersDeployment, enabledControllers } from "../builders/kubeControllers";
import { buildPdb } from "../builders/pod";
import { buildRbac, kubeControllersRules } from "../builders/workloadRbac";
import { KUBE_CONTROLLERS } from "../facts/names";
import { type ClientDatastore, workloadDatastore } from "./etcdClient";
import { certHashOutput } from "./certHash";
import type { ServicesEndpoint } from "./servicesEndpoint";

export interface KubeControllersArgs {
    /** kube-controllers image. */
    image: string;
    /** Datastore the controllers reconcile; with etcd, the client Secret and ConfigMap the pods mount (they roll when its hash changes). */
    datastore: ClientDatastore;
    /** With the eBPF dataplane: the API server's address, which the pods take as env (the validation keeps it off etcd). */
    servicesEndpoint?: ServicesEndpoint;
}

/** calico-kube-controllers: node and IPAM garbage collection (plus policy mirroring with etcd). */
export class KubeControllers extends pulumi.ComponentResource {
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly image: pulumi.Output<string>;
    public readonly enabledControllers: pulumi.Output<string[]>;

    constructor(name: string, args: KubeControllersArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:KubeControllers", name, {}, opts);
        const { image, datastore, servicesEndpoint } = args;
        const parent = { parent: this };

        const rbac = buildRbac(KUBE_CONTROLLERS, kubeControllersRules(datastore.type));
        const sa = new k8s.core.v1.ServiceAccount(KUBE_CONTROLLERS, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(KUBE_CONTROLLERS, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(KUBE_CONTROLLERS, rbac.clusterRoleBinding, {
            parent: this,
            dependsOn: [sa, role],
        });

        // What the pods read only at start (the etcd client material, or the services endpoint), hashed so a change rolls them.
        const certHash =
            datastore.type === "etcd" ? datastore.client.certHash : servicesEndpoint ? certHashOutput(servicesEndpoint.hashed) : undefined;
        this.deployment = new k8s.apps.v1.Deployment(
            KUBE_CONTROLLERS,
            buildKubeControllersDeployment({
                image,
                datastore: workloadDatastore(datastore),
                serviceAccountName: rbac.serviceAccount.metadata.name,
                certHash,
            }),
            { parent: this, dependsOn: [binding, ...(servicesEndpoint ? [servicesEndpoint.configMap] : [])] },
        );
        new k8s.policy.v1.PodDisruptionBudget(KUBE_CONTROLLERS, buildPdb(KUBE_CONTROLLERS), parent);

        this.image = pulumi.output(image);
        this.enabledControllers = pulumi.output(enabledControllers(datastore.type));
        this.registerOutputs({ image: this.image, enabledControllers: this.enabledControllers });
    }
}
