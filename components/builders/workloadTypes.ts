/**
 * Plain (non-Input) shapes of the Kubernetes objects the workload builders return. They are structurally
 * assignable to @pulumi/kubernetes input types, and tests can read every field without unwrapping Inputs.
 */

export interface ObjectMeta {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

export interface PolicyRule {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
    resourceNames?: string[];
}

export interface EnvVar {
    name: string;
    value?: string;
    valueFrom?: {
        fieldRef?: { fieldPath: string };
        configMapKeyRef?: { name: string; key: string };
    };
}

export interface VolumeMount {
    name: string;
    mountPath: string;
    readOnly?: boolean;
    mountPropagation?: string;
}

export interface Volume {
    name: string;
    hostPath?: { path: string; type?: string };
    configMap?: { name: string };
    secret?: { secretName: string; defaultMode?: number };
}

export interface Probe {
    exec?: { command: string[] };
    httpGet?: { path: string; port: number; host?: string };
    periodSeconds?: number;
    initialDelaySeconds?: number;
    failureThreshold?: number;
    timeoutSeconds?: number;
}

export interface Container {
    name: string;
    image: string;
    imagePullPolicy?: string;
    command?: string[];
    env?: EnvVar[];
    envFrom?: { configMapRef: { name: string; optional?: boolean } }[];
    ports?: { name: string; containerPort: number; protocol: string }[];
    volumeMounts?: VolumeMount[];
    livenessProbe?: Probe;
    readinessProbe?: Probe;
    lifecycle?: { preStop: { exec: { command: string[] } } };
    resources?: { requests: Record<string, string> };
    securityContext?: { privileged?: boolean; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean };
}

export interface Toleration {
    key?: string;
    operator: "Exists" | "Equal";
    effect?: "NoSchedule" | "NoExecute" | "PreferNoSchedule";
}

export interface PodSpec {
    nodeSelector: Record<string, string>;
    hostNetwork?: boolean;
    tolerations: Toleration[];
    serviceAccountName: string;
    priorityClassName: string;
    terminationGracePeriodSeconds?: number;
    securityContext?: { fsGroup?: number; seccompProfile?: { type: string } };
    affinity?: {
        podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
                labelSelector: { matchLabels: Record<string, string> };
                topologyKey: string;
            }[];
        };
    };
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
}

/**
 * `H`: the cert-hash annotation's value (podHash.ts), a string here; components pass it as an Output, so
 * every other field stays known at preview time even before the certificates exist.
 */
export interface PodTemplate<H = string> {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string | H> };
    spec: PodSpec;
}

export interface Deployment<H = string> {
    apiVersion: "apps/v1";
    kind: "Deployment";
    metadata: ObjectMeta;
    spec: {
        replicas: number;
        revisionHistoryLimit?: number;
        selector: { matchLabels: Record<string, string> };
        strategy: { type: "RollingUpdate"; rollingUpdate: { maxSurge: string | number; maxUnavailable: number } } | { type: "Recreate" };
        template: PodTemplate<H>;
    };
}

export interface DaemonSet<H = string> {
    apiVersion: "apps/v1";
    kind: "DaemonSet";
    metadata: ObjectMeta;
    spec: {
        selector: { matchLabels: Record<string, string> };
        updateStrategy: { type: "RollingUpdate"; rollingUpdate: { maxUnavailable: number } };
        template: PodTemplate<H>;
    };
}

export interface Service {
    apiVersion: "v1";
    kind: "Service";
    metadata: ObjectMeta;
    spec: {
        selector: Record<string, string>;
        ports: { name: string; port: number; protocol: string; targetPort: string }[];
    };
}

export interface PodDisruptionBudget {
    apiVersion: "policy/v1";
    kind: "PodDisruptionBudget";
    metadata: ObjectMeta;
    spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } };
}

export interface ServiceAccount {
    apiVersion: "v1";
    kind: "ServiceAccount";
    metadata: ObjectMeta;
}

export interface ClusterRole {
    apiVersion: "rbac.authorization.k8s.io/v1";
    kind: "ClusterRole";
    metadata: ObjectMeta;
    rules: PolicyRule[];
}

export interface ClusterRoleBinding {
    apiVersion: "rbac.authorization.k8s.io/v1";
    kind: "ClusterRoleBinding";
    metadata: ObjectMeta;
    roleRef: { apiGroup: "rbac.authorization.k8s.io"; kind: "ClusterRole"; name: string };
    subjects: { kind: "ServiceAccount"; name: string; namespace: string }[];
}

/** ConfigMap or Secret whose values may be plain strings (tests) or Pulumi Inputs (components). */
export interface ConfigMapOf<T> {
    apiVersion: "v1";
    kind: "ConfigMap";
    metadata: ObjectMeta;
    data: Record<string, T>;
}

export interface SecretOf<T> {
    apiVersion: "v1";
    kind: "Secret";
    metadata: ObjectMeta;
    type: "Opaque";
    stringData: Record<string, T>;
}

/** Datastore the workloads talk to; etcd carries the endpoints that land in the `calico-config` ConfigMap. */
export type WorkloadDatastore = { type: "kubernetes" } | { type: "etcd"; endpoints: string[] };
