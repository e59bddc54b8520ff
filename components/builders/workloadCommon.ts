import { KUBE_SYSTEM, MANAGED_BY_LABELS } from "./names";
import type { EnvVar, ObjectMeta, PodDisruptionBudget, Toleration } from "./workloadTypes";

/** Selector label of every Calico workload, as upstream uses it (`kubectl -l k8s-app=calico-node`). */
export function appLabel(app: string): Record<string, string> {
    return { "k8s-app": app };
}

/** Namespaced object metadata with the selector label and the managed-by labels. */
export function workloadMeta(name: string, app: string = name, namespace: string = KUBE_SYSTEM): ObjectMeta {
    return { name, namespace, labels: { ...MANAGED_BY_LABELS, ...appLabel(app) } };
}

export const LINUX_NODES = { "kubernetes.io/os": "linux" } as const;

export const CRITICAL_ADDONS_ONLY: Toleration = { key: "CriticalAddonsOnly", operator: "Exists" };

/** Lets users point Calico at the API server directly (eBPF mode) without editing the workloads. */
export const KUBE_SERVICES_ENDPOINT_FROM = [{ configMapRef: { name: "kubernetes-services-endpoint", optional: true } }];

export function literal(name: string, value: string): EnvVar {
    return { name, value };
}

export function fromField(name: string, fieldPath: string): EnvVar {
    return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** Absolute path of `key` in a volume mounted at `dir`. */
export function fileIn(dir: string, key: string): string {
    return `${dir.replace(/\/+$/, "")}/${key}`;
}

/** At most one pod of the app evicted at a time (drains, cluster autoscaler). */
export function buildPdb(app: string): PodDisruptionBudget {
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: workloadMeta(app),
        spec: { maxUnavailable: 1, selector: { matchLabels: appLabel(app) } },
    };
}
