import { NODE_CLIENT_CN } from "./names";
import { CERT_HASH_ANNOTATION } from "./podHash";
import { CRITICAL_ADDONS_ONLY, KUBE_SERVICES_ENDPOINT_FROM, LINUX_NODES, appLabel, fileIn, literal, workloadMeta } from "./workloadCommon";
import type { ConfigMapOf, Deployment, SecretOf, Service, Toleration, Volume, VolumeMount } from "./workloadTypes";

/** Names shared by Typha and calico-node; both ends of the mutual TLS read the same objects. */
export const TYPHA = "calico-typha";
export const TYPHA_PORT = 5473;
export const TYPHA_PORT_NAME = "calico-typha";
export const TYPHA_HEALTH_PORT = 9098;
/** Typha sheds clients slowly over this grace period; TYPHA_SHUTDOWNTIMEOUTSECS must match it. */
const TYPHA_GRACE_SECONDS = 300;

/** A ConfigMap or Secret mounted as a directory of files. */
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

export function certPath(m: CertMount, file: string): string {
    const name = m.files[file];
    if (name === undefined) throw new Error(`${m.object} has no ${file} file`);
    return fileIn(m.dir, name);
}

export function certVolume(m: CertMount, kind: "configMap" | "secret"): Volume {
    return kind === "configMap" ? { name: m.volume, configMap: { name: m.object } } : { name: m.volume, secret: { secretName: m.object } };
}

export function certMount(m: CertMount): VolumeMount {
    return { name: m.volume, mountPath: m.dir, readOnly: true };
}

export function buildTyphaCaConfigMap<T>(caCertPem: T): ConfigMapOf<T> {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: workloadMeta(TYPHA_CA.object, TYPHA),
        data: { [TYPHA_CA.files.ca]: caCertPem },
    };
}

/** Secret of one TLS identity (`cert`/`key` files of the mount); generic so components can pass secrets. */
export function buildCertSecret<T>(m: CertMount, app: string, certPem: T, keyPem: T): SecretOf<T> {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: workloadMeta(m.object, app),
        type: "Opaque",
        stringData: { [m.files.cert]: certPem, [m.files.key]: keyPem },
    };
}

export interface TyphaParams {
    image: string;
    replicas: number;
    /** Hash of the CA and server cert the pods mount (see podHash.ts). */
    certHash: string;
    /** Also run on control-plane nodes (their NoSchedule taint is tolerated). */
    tolerateControlPlane: boolean;
    /** Per-node podCIDR IPAM: Typha then passes node podCIDRs on to calico-node's BGP config. */
    usePodCidr: boolean;
    serviceAccountName: string;
}

function typhaTolerations(tolerateControlPlane: boolean): Toleration[] {
    const out: Toleration[] = [
        CRITICAL_ADDONS_ONLY,
        // Nodes stay NotReady until calico-node runs, and calico-node waits for Typha.
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" },
    ];
    if (tolerateControlPlane) out.push({ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" });
    return out;
}

export function buildTyphaDeployment(p: TyphaParams): Deployment {
    const labels = appLabel(TYPHA);
    const health = { path: "", port: TYPHA_HEALTH_PORT, host: "localhost" };
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: workloadMeta(TYPHA),
        spec: {
            replicas: p.replicas,
            revisionHistoryLimit: 2,
            selector: { matchLabels: labels },
            // A full up-level set starts before back-level Typhas shed their clients.
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "100%", maxUnavailable: 1 } },
            template: {
                metadata: {
                    labels,
                    annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "true", [CERT_HASH_ANNOTATION]: p.certHash },
                },
                spec: {
                    nodeSelector: { ...LINUX_NODES },
                    // calico-node needs Typha before pods can be networked, so Typha cannot need pod networking.
                    hostNetwork: true,
                    terminationGracePeriodSeconds: TYPHA_GRACE_SECONDS,
                    tolerations: typhaTolerations(p.tolerateControlPlane),
                    serviceAccountName: p.serviceAccountName,
                    priorityClassName: "system-cluster-critical",
                    securityContext: { fsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                    // Host port 5473: two replicas on one node never start ("didn't have free ports").
                    affinity: {
                        podAntiAffinity: {
                            requiredDuringSchedulingIgnoredDuringExecution: [
                                { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
                            ],
                        },
                    },
                    containers: [
                        {
                            name: TYPHA,
                            image: p.image,
                            imagePullPolicy: "IfNotPresent",
                            ports: [{ name: TYPHA_PORT_NAME, containerPort: TYPHA_PORT, protocol: "TCP" }],
                            envFrom: KUBE_SERVICES_ENDPOINT_FROM,
                            env: [
                                literal("TYPHA_LOGSEVERITYSCREEN", "info"),
                                literal("TYPHA_LOGFILEPATH", "none"),
                                literal("TYPHA_LOGSEVERITYSYS", "none"),
                                literal("TYPHA_CONNECTIONREBALANCINGMODE", "kubernetes"),
                                literal("TYPHA_DATASTORETYPE", "kubernetes"),
                                literal("TYPHA_HEALTHENABLED", "true"),
                                literal("TYPHA_HEALTHPORT", String(TYPHA_HEALTH_PORT)),
                                literal("TYPHA_SHUTDOWNTIMEOUTSECS", String(TYPHA_GRACE_SECONDS)),
                                literal("TYPHA_CAFILE", certPath(TYPHA_CA, "ca")),
                                literal("TYPHA_CLIENTCN", NODE_CLIENT_CN),
                                literal("TYPHA_SERVERCERTFILE", certPath(TYPHA_CERTS, "cert")),
                                literal("TYPHA_SERVERKEYFILE", certPath(TYPHA_CERTS, "key")),
                                ...(p.usePodCidr ? [literal("USE_POD_CIDR", "true")] : []),
                            ],
                            livenessProbe: {
                                httpGet: { ...health, path: "/liveness" },
                                periodSeconds: 30,
                                initialDelaySeconds: 30,
                                timeoutSeconds: 10,
                            },
                            readinessProbe: { httpGet: { ...health, path: "/readiness" }, periodSeconds: 10, timeoutSeconds: 10 },
                            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
                            volumeMounts: [certMount(TYPHA_CA), certMount(TYPHA_CERTS)],
                        },
                    ],
                    volumes: [certVolume(TYPHA_CA, "configMap"), certVolume(TYPHA_CERTS, "secret")],
                },
            },
        },
    };
}

export function buildTyphaService(): Service {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: workloadMeta(TYPHA),
        spec: {
            selector: appLabel(TYPHA),
            ports: [{ name: TYPHA_PORT_NAME, port: TYPHA_PORT, protocol: "TCP", targetPort: TYPHA_PORT_NAME }],
        },
    };
}
