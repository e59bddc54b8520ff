import { KUBE_CONTROLLERS, calicoDatastoreName } from "../facts/names";
import { ETCD_MOUNT, etcdEnv, etcdVolume } from "./etcdClient";
import {
    CONTROL_PLANE,
    CRITICAL_ADDONS_ONLY,
    KUBE_SERVICES_ENDPOINT_FROM,
    appLabel,
    container,
    execLiveness,
    execReadiness,
    literal,
    podTemplate,
    workloadMeta,
} from "./pod";
import type { Deployment, WorkloadDatastore } from "./workloadTypes";

/**
 * Controllers the pinned release runs per datastore. On the Kubernetes datastore only node (node and
 * IPAM garbage collection) and loadbalancer (service IP allocation) apply; with etcd the policy,
 * namespace, serviceaccount and workloadendpoint controllers also mirror Kubernetes objects into etcd.
 */
export function enabledControllers(datastore: WorkloadDatastore["type"]): string[] {
    return datastore === "etcd"
        ? ["policy", "namespace", "serviceaccount", "workloadendpoint", "node", "loadbalancer"]
        : ["node", "loadbalancer"];
}

export interface KubeControllersParams<H = string> {
    image: string;
    datastore: WorkloadDatastore;
    serviceAccountName: string;
    /** Hash of what the pods read at start only (etcd client material, the services endpoint; see podHash.ts); unset: none. */
    certHash?: H;
}

export function buildKubeControllersDeployment<H = string>(p: KubeControllersParams<H>): Deployment<H> {
    const etcd = p.datastore.type === "etcd";
    const template = podTemplate(
        {
            app: KUBE_CONTROLLERS,
            serviceAccountName: p.serviceAccountName,
            priorityClassName: "system-cluster-critical",
            certHash: p.certHash,
        },
        {
            tolerations: [
                CRITICAL_ADDONS_ONLY,
                { key: "node-role.kubernetes.io/master", effect: "NoSchedule", operator: "Exists" },
                CONTROL_PLANE,
            ],
            // With etcd the controllers reach etcd outside any network policy Calico enforces.
            ...(etcd ? { hostNetwork: true } : {}),
            containers: [
                container({
                    name: KUBE_CONTROLLERS,
                    image: p.image,
                    // As the operator does (its K8sServiceEp env); upstream's manifests give it to calico-node and Typha only.
                    envFrom: KUBE_SERVICES_ENDPOINT_FROM,
                    env: [
                        ...(etcd ? etcdEnv() : []),
                        literal("DATASTORE_TYPE", calicoDatastoreName(p.datastore.type)),
                        literal("ENABLED_CONTROLLERS", enabledControllers(p.datastore.type).join(",")),
                    ],
                    livenessProbe: execLiveness(["/usr/bin/check-status", "-l"]),
                    readinessProbe: execReadiness(["/usr/bin/check-status", "-r"]),
                    securityContext: { runAsNonRoot: true },
                    ...(etcd ? { volumeMounts: [ETCD_MOUNT] } : {}),
                }),
            ],
            ...(etcd ? { volumes: [etcdVolume(0o440)] } : {}),
        },
    );
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: workloadMeta(KUBE_CONTROLLERS),
        spec: {
            // The controllers elect no leader: exactly one instance may run, so never surge.
            replicas: 1,
            selector: { matchLabels: appLabel(KUBE_CONTROLLERS) },
            strategy: { type: "Recreate" },
            template,
        },
    };
}
