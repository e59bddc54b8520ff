import { ETCD_MOUNT, etcdEnv, etcdVolume } from "./etcdClient";
import { CERT_HASH_ANNOTATION } from "./podHash";
import { CRITICAL_ADDONS_ONLY, LINUX_NODES, appLabel, literal, workloadMeta } from "./workloadCommon";
import type { Container, Deployment, WorkloadDatastore } from "./workloadTypes";

export const KUBE_CONTROLLERS = "calico-kube-controllers";

/**
 * Controllers v3.32.1 runs per datastore. On the Kubernetes datastore only node (node and IPAM garbage
 * collection) and loadbalancer (service IP allocation) apply; with etcd the policy, namespace,
 * serviceaccount and workloadendpoint controllers also mirror Kubernetes objects into etcd.
 */
export function enabledControllers(datastore: WorkloadDatastore["type"]): string[] {
    return datastore === "etcd"
        ? ["policy", "namespace", "serviceaccount", "workloadendpoint", "node", "loadbalancer"]
        : ["node", "loadbalancer"];
}

export interface KubeControllersParams {
    image: string;
    datastore: WorkloadDatastore;
    serviceAccountName: string;
    /** Hash of the etcd client material mounted with etcd (see podHash.ts); unused on Kubernetes. */
    certHash?: string;
}

export function buildKubeControllersDeployment(p: KubeControllersParams): Deployment {
    const labels = appLabel(KUBE_CONTROLLERS);
    const etcd = p.datastore.type === "etcd";
    const container: Container = {
        name: KUBE_CONTROLLERS,
        image: p.image,
        imagePullPolicy: "IfNotPresent",
        env: [
            ...(etcd ? etcdEnv() : []),
            literal("DATASTORE_TYPE", etcd ? "etcdv3" : "kubernetes"),
            literal("ENABLED_CONTROLLERS", enabledControllers(p.datastore.type).join(",")),
        ],
        livenessProbe: {
            exec: { command: ["/usr/bin/check-status", "-l"] },
            periodSeconds: 10,
            initialDelaySeconds: 10,
            failureThreshold: 6,
            timeoutSeconds: 10,
        },
        readinessProbe: { exec: { command: ["/usr/bin/check-status", "-r"] }, periodSeconds: 10 },
        securityContext: { runAsNonRoot: true },
        ...(etcd ? { volumeMounts: [ETCD_MOUNT] } : {}),
    };
    const annotations = etcd && p.certHash !== undefined ? { annotations: { [CERT_HASH_ANNOTATION]: p.certHash } } : {};
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: workloadMeta(KUBE_CONTROLLERS),
        spec: {
            // The controllers elect no leader: exactly one instance may run, so never surge.
            replicas: 1,
            selector: { matchLabels: labels },
            strategy: { type: "Recreate" },
            template: {
                metadata: { labels, ...annotations },
                spec: {
                    nodeSelector: { ...LINUX_NODES },
                    tolerations: [
                        CRITICAL_ADDONS_ONLY,
                        { key: "node-role.kubernetes.io/master", effect: "NoSchedule", operator: "Exists" },
                        { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule", operator: "Exists" },
                    ],
                    serviceAccountName: p.serviceAccountName,
                    securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                    priorityClassName: "system-cluster-critical",
                    // With etcd the controllers reach etcd outside any network policy Calico enforces.
                    ...(etcd ? { hostNetwork: true } : {}),
                    containers: [container],
                    ...(etcd ? { volumes: [etcdVolume(0o440)] } : {}),
                },
            },
        },
    };
}
