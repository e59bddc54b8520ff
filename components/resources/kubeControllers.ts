import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { KUBE_CONTROLLERS, buildKubeControllersDeployment, enabledControllers } from "../builders/kubeControllers";
import { buildPdb } from "../builders/workloadCommon";
import { buildRbac, kubeControllersRules } from "../builders/workloadRbac";
import type { WorkloadDatastore } from "../builders/workloadTypes";
import { CALICO_VERSION, DEFAULT_REGISTRY, calicoImages } from "../versions";
import { withCertHash } from "./certHash";

export interface KubeControllersArgs {
    /** kube-controllers image. Defaults to quay.io/calico/kube-controllers at the pinned Calico version. */
    image?: string;
    /** Datastore the controllers reconcile. Defaults to the Kubernetes API. */
    datastore?: WorkloadDatastore;
    /**
     * Hash of the etcd client certs the pods mount (CalicoNode.etcdCertHash), so they roll when the
     * certs change; the Secret and ConfigMap themselves come from the CalicoNode component. Defaults to none.
     */
    etcdCertHash?: pulumi.Input<string>;
}

/** calico-kube-controllers: node and IPAM garbage collection (plus policy mirroring with etcd). */
export class KubeControllers extends pulumi.ComponentResource {
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly image: pulumi.Output<string>;
    public readonly enabledControllers: pulumi.Output<string[]>;

    constructor(name: string, args: KubeControllersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("calico:index:KubeControllers", name, args, opts);
        const image = args.image ?? calicoImages(CALICO_VERSION, DEFAULT_REGISTRY)["kube-controllers"];
        const datastore = args.datastore ?? { type: "kubernetes" };
        const parent = { parent: this };

        const rbac = buildRbac(KUBE_CONTROLLERS, kubeControllersRules(datastore.type));
        const sa = new k8s.core.v1.ServiceAccount(KUBE_CONTROLLERS, rbac.serviceAccount, parent);
        const role = new k8s.rbac.v1.ClusterRole(KUBE_CONTROLLERS, rbac.clusterRole, parent);
        const binding = new k8s.rbac.v1.ClusterRoleBinding(KUBE_CONTROLLERS, rbac.clusterRoleBinding, {
            parent: this,
            dependsOn: [sa, role],
        });

        const d = buildKubeControllersDeployment({ image, datastore, serviceAccountName: rbac.serviceAccount.metadata.name });
        const template =
            args.etcdCertHash !== undefined && datastore.type === "etcd"
                ? withCertHash(d.spec.template, args.etcdCertHash)
                : d.spec.template;
        this.deployment = new k8s.apps.v1.Deployment(
            KUBE_CONTROLLERS,
            { ...d, spec: { ...d.spec, template } },
            { parent: this, dependsOn: [binding] },
        );
        new k8s.policy.v1.PodDisruptionBudget(KUBE_CONTROLLERS, buildPdb(KUBE_CONTROLLERS), parent);

        this.image = pulumi.output(image);
        this.enabledControllers = pulumi.output(enabledControllers(datastore.type));
        this.registerOutputs({ image: this.image, enabledControllers: this.enabledControllers });
    }
}
