import { NODE_CLIENT_CN, TYPHA, TYPHA_HEALTH_PORT, TYPHA_PORT, calicoDatastoreName } from "../facts/names";
import {
    CONTROL_PLANE,
    CRITICAL_ADDONS_ONLY,
    KUBE_SERVICES_ENDPOINT_FROM,
    TYPHA_CA,
    TYPHA_CERTS,
    type CertMount,
    appLabel,
    certMount,
    certPath,
    certVolume,
    container,
    literal,
    podTemplate,
    workloadMeta,
} from "./pod";
import type { ConfigMapOf, Deployment, SecretOf, Service, Toleration } from "./workloadTypes";

export { TYPHA_HEALTH_PORT, TYPHA_PORT };
/** calico-node finds Typha through the Service by this port name. */
export const TYPHA_PORT_NAME = "calico-typha";
/** Typha sheds clients slowly over this grace period; TYPHA_SHUTDOWNTIMEOUTSECS must match it. */
const TYPHA_GRACE_SECONDS = 300;

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

export interface TyphaParams<H = string> {
    image: string;
    replicas: number;
    /** Hash of the CA and server cert the pods mount (see podHash.ts), so a renewal rolls the pods. */
    certHash: H;
    /** Also run on control-plane nodes (their NoSchedule taint is tolerated). */
    tolerateControlPlane: boolean;
    /** Per-node podCIDR IPAM: Typha then passes node podCIDRs on to calico-node's BGP config. */
    usePodCidr: boolean;
    serviceAccountName: string;
    /** Prometheus port on the node's loopback (`npm run verify` reads Felix connections there); 0: off. */
    metricsPort: number;
}

function typhaTolerations(tolerateControlPlane: boolean): Toleration[] {
    const out: Toleration[] = [
        CRITICAL_ADDONS_ONLY,
        // Nodes stay NotReady until calico-node runs, and calico-node waits for Typha.
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" },
        // calico-node's preStop hook (-shutdown) marks its node NetworkUnavailable, and only a running
        // calico-node clears it: on a reinstall that taint would keep Typha off every node while
        // calico-node waits for Typha (destroy, then up). Typha is host-networked.
        { key: "node.kubernetes.io/network-unavailable", operator: "Exists", effect: "NoSchedule" },
    ];
    if (tolerateControlPlane) out.push(CONTROL_PLANE);
    return out;
}

export function buildTyphaDeployment<H = string>(p: TyphaParams<H>): Deployment<H> {
    const labels = appLabel(TYPHA);
    const health = { path: "", port: TYPHA_HEALTH_PORT, host: "localhost" };
    const template = podTemplate(
        {
            app: TYPHA,
            serviceAccountName: p.serviceAccountName,
            priorityClassName: "system-cluster-critical",
            certHash: p.certHash,
            annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "true" },
        },
        {
            // calico-node needs Typha before pods can be networked, so Typha cannot need pod networking.
            hostNetwork: true,
            terminationGracePeriodSeconds: TYPHA_GRACE_SECONDS,
            tolerations: typhaTolerations(p.tolerateControlPlane),
            securityContext: { fsGroup: 65534 },
            // One host port (TYPHA_PORT): two replicas on one node never start ("didn't have free ports").
            affinity: {
                podAntiAffinity: {
                    requiredDuringSchedulingIgnoredDuringExecution: [
                        { labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" },
                    ],
                },
            },
            containers: [
                container({
                    name: TYPHA,
                    image: p.image,
                    ports: [{ name: TYPHA_PORT_NAME, containerPort: TYPHA_PORT, protocol: "TCP" }],
                    envFrom: KUBE_SERVICES_ENDPOINT_FROM,
                    env: [
                        literal("TYPHA_LOGSEVERITYSCREEN", "info"),
                        literal("TYPHA_LOGFILEPATH", "none"),
                        literal("TYPHA_LOGSEVERITYSYS", "none"),
                        literal("TYPHA_CONNECTIONREBALANCINGMODE", "kubernetes"),
                        // Typha runs only on the Kubernetes datastore (the datastore rules refuse it with etcd).
                        literal("TYPHA_DATASTORETYPE", calicoDatastoreName("kubernetes")),
                        literal("TYPHA_HEALTHENABLED", "true"),
                        literal("TYPHA_HEALTHPORT", String(TYPHA_HEALTH_PORT)),
                        literal("TYPHA_SHUTDOWNTIMEOUTSECS", String(TYPHA_GRACE_SECONDS)),
                        literal("TYPHA_CAFILE", certPath(TYPHA_CA, "ca")),
                        literal("TYPHA_CLIENTCN", NODE_CLIENT_CN),
                        literal("TYPHA_SERVERCERTFILE", certPath(TYPHA_CERTS, "cert")),
                        literal("TYPHA_SERVERKEYFILE", certPath(TYPHA_CERTS, "key")),
                        ...(p.usePodCidr ? [literal("USE_POD_CIDR", "true")] : []),
                        // Loopback only: the metrics are read on the node (verify's host probe), never across the network.
                        ...(p.metricsPort !== 0
                            ? [
                                  literal("TYPHA_PROMETHEUSMETRICSENABLED", "true"),
                                  literal("TYPHA_PROMETHEUSMETRICSHOST", "127.0.0.1"),
                                  literal("TYPHA_PROMETHEUSMETRICSPORT", String(p.metricsPort)),
                              ]
                            : []),
                    ],
                    // Typha's HTTP health endpoints; slower than the exec probes, as upstream times them.
                    livenessProbe: {
                        httpGet: { ...health, path: "/liveness" },
                        periodSeconds: 30,
                        initialDelaySeconds: 30,
                        timeoutSeconds: 10,
                    },
                    readinessProbe: { httpGet: { ...health, path: "/readiness" }, periodSeconds: 10, timeoutSeconds: 10 },
                    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
                    volumeMounts: [certMount(TYPHA_CA), certMount(TYPHA_CERTS)],
                }),
            ],
            volumes: [certVolume(TYPHA_CA, "configMap"), certVolume(TYPHA_CERTS, "secret")],
        },
    );
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
            template,
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
