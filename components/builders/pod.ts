import { KUBE_SYSTEM, MANAGED_BY_LABELS, SERVICES_ENDPOINT_CONFIGMAP } from "../facts/names";
import { CERT_HASH_ANNOTATION } from "./podHash";
import type {
    Container,
    EnvVar,
    ObjectMeta,
    PodDisruptionBudget,
    PodSpec,
    PodTemplate,
    Probe,
    Toleration,
    Volume,
    VolumeMount,
} from "./workloadTypes";

/**
 * The pod skeleton every Calico workload shares (after the operator's pkg/render/common): labels and
 * selector, the cert-hash annotation, Linux nodes, seccomp, priority, pull policy, exec probes,
 * tolerations and the cert mounts. Each workload builder adds only what is its own.
 */

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
export const CONTROL_PLANE: Toleration = { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" };
/** Every NoSchedule taint: for pods a node needs before it is Ready (calico-node, the calicoctl Job). */
export const ANY_NO_SCHEDULE: Toleration = { operator: "Exists", effect: "NoSchedule" };

/** Lets users point Calico at the API server directly (eBPF mode) without editing the workloads. */
export const KUBE_SERVICES_ENDPOINT_FROM = [{ configMapRef: { name: SERVICES_ENDPOINT_CONFIGMAP, optional: true } }];

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

/** A container of the pinned image: pulled only when the node lacks it, since the tag never moves. */
export function container(c: Omit<Container, "imagePullPolicy">): Container {
    return { ...c, imagePullPolicy: "IfNotPresent" };
}

/** Liveness of an exec check: a slow start and six misses before a restart, as upstream times them. */
export function execLiveness(command: string[]): Probe {
    return { exec: { command }, periodSeconds: 10, initialDelaySeconds: 10, failureThreshold: 6, timeoutSeconds: 10 };
}

export function execReadiness(command: string[], timeoutSeconds?: number): Probe {
    return { exec: { command }, periodSeconds: 10, ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}) };
}

export interface PodParams<H = string> {
    app: string;
    serviceAccountName: string;
    priorityClassName: "system-cluster-critical" | "system-node-critical";
    /** Hash of the material the pods mount (see podHash.ts); unset: no annotation. */
    certHash?: H;
    /** Annotations besides the hash. */
    annotations?: Record<string, string>;
}

/** Pod template with the shared fields; `spec` holds what is the workload's own. */
export function podTemplate<H = string>(
    p: PodParams<H>,
    spec: Omit<PodSpec, "nodeSelector" | "serviceAccountName" | "priorityClassName">,
): PodTemplate<H> {
    const annotations = { ...p.annotations, ...(p.certHash !== undefined ? { [CERT_HASH_ANNOTATION]: p.certHash } : {}) };
    return {
        metadata: { labels: appLabel(p.app), ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
        spec: {
            nodeSelector: { ...LINUX_NODES },
            serviceAccountName: p.serviceAccountName,
            priorityClassName: p.priorityClassName,
            ...spec,
            securityContext: { ...spec.securityContext, seccompProfile: { type: "RuntimeDefault" } },
        },
    };
}

/** A ConfigMap or Secret mounted as a directory of files; both ends (object keys, env paths) read it. */
export interface CertMount {
    object: string;
    volume: string;
    dir: string;
    files: Record<string, string>;
}

export const TYPHA_CA: CertMount = {
    object: "calico-typha-ca",
    volume: "calico-typha-ca",
    dir: "/calico-typha-ca",
    files: { ca: "typhaca.crt" },
};
export const TYPHA_CERTS: CertMount = {
    object: "calico-typha-certs",
    volume: "calico-typha-certs",
    dir: "/calico-typha-certs",
    files: { cert: "typha.crt", key: "typha.key" },
};
export const NODE_CERTS: CertMount = {
    object: "calico-node-certs",
    volume: "calico-node-certs",
    dir: "/calico-node-certs",
    files: { cert: "calico-node.crt", key: "calico-node.key" },
};
/** How etcd clients find their TLS material: the names upstream's calico-etcd.yaml uses. */
export const ETCD_CERTS: CertMount = {
    object: "calico-etcd-secrets",
    volume: "etcd-certs",
    dir: "/calico-secrets",
    files: { ca: "etcd-ca", cert: "etcd-cert", key: "etcd-key" },
};

export function certPath(m: CertMount, file: string): string {
    const name = m.files[file];
    if (name === undefined) throw new Error(`${m.object} has no ${file} file`);
    return fileIn(m.dir, name);
}

/** `defaultMode` for Secrets read by one user only (etcd: 0400 for root, 0440 for non-root). */
export function certVolume(m: CertMount, kind: "configMap" | "secret", defaultMode?: number): Volume {
    if (kind === "configMap") return { name: m.volume, configMap: { name: m.object } };
    return { name: m.volume, secret: { secretName: m.object, ...(defaultMode !== undefined ? { defaultMode } : {}) } };
}

export function certMount(m: CertMount): VolumeMount {
    return { name: m.volume, mountPath: m.dir, readOnly: true };
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
