import { parseAutodetect } from "../config/autodetect";
import type { Backend } from "../config/schema";
import { ETCD_MOUNT, etcdEnv, etcdVolume } from "./etcdClient";
import { TYPHA_SERVER_CN } from "./names";
import { CERT_HASH_ANNOTATION } from "./podHash";
import { NODE_CERTS, TYPHA_CA, certMount, certPath, certVolume } from "./typha";
import {
    CRITICAL_ADDONS_ONLY,
    KUBE_SERVICES_ENDPOINT_FROM,
    LINUX_NODES,
    appLabel,
    fromField,
    literal,
    workloadMeta,
} from "./workloadCommon";
import type { Container, DaemonSet, EnvVar, Probe, Volume, VolumeMount, WorkloadDatastore } from "./workloadTypes";

export const CALICO_NODE = "calico-node";

export interface CalicoNodeParams {
    image: string;
    backend: Backend;
    /** IP_AUTODETECTION_METHOD, already validated by the config rules; checked again here. */
    ipAutodetectionMethod: string;
    ipv6: boolean;
    /** Per-node podCIDR IPAM (host-local, Spiderpool): BIRD then advertises each node's podCIDR. */
    usePodCidr: boolean;
    /** Pod MTU; the tunnel devices use the same value as the conflist. */
    mtu: number;
    datastore: WorkloadDatastore;
    /** Typha's Service name, or undefined when Felix talks to the datastore directly (always with etcd). */
    typhaServiceName?: string;
    /** Hash of the Typha CA and node cert (and etcd material) the pods mount; see podHash.ts. */
    certHash: string;
    serviceAccountName: string;
}

function hostPath(name: string, path: string, type?: string): Volume {
    return { name, hostPath: type ? { path, type } : { path } };
}

/** Host paths calico-node v3.32.1 uses, without the CNI install dirs: the hard way installs CNI on the host. */
const HOST_VOLUMES: Volume[] = [
    hostPath("lib-modules", "/lib/modules"),
    hostPath("var-run-calico", "/var/run/calico", "DirectoryOrCreate"),
    hostPath("var-lib-calico", "/var/lib/calico", "DirectoryOrCreate"),
    hostPath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
    hostPath("sys-fs", "/sys/fs/", "DirectoryOrCreate"),
    hostPath("bpffs", "/sys/fs/bpf", "Directory"),
    hostPath("nodeproc", "/proc"),
    hostPath("cni-log-dir", "/var/log/calico/cni"),
    hostPath("policysync", "/var/run/nodeagent", "DirectoryOrCreate"),
];

const NODE_MOUNTS: VolumeMount[] = [
    { name: "lib-modules", mountPath: "/lib/modules", readOnly: true },
    { name: "xtables-lock", mountPath: "/run/xtables.lock", readOnly: false },
    { name: "var-run-calico", mountPath: "/var/run/calico", readOnly: false },
    { name: "var-lib-calico", mountPath: "/var/lib/calico", readOnly: false },
    { name: "policysync", mountPath: "/var/run/nodeagent" },
    { name: "bpffs", mountPath: "/sys/fs/bpf" },
    { name: "cni-log-dir", mountPath: "/var/log/calico/cni", readOnly: true },
];

/** Mounts bpffs and the cgroup2 fs the BPF dataplane needs; best effort, so iptables mode is unaffected. */
function ebpfBootstrap(image: string): Container {
    return {
        name: "ebpf-bootstrap",
        image,
        imagePullPolicy: "IfNotPresent",
        command: ["calico-node", "-init", "-best-effort"],
        volumeMounts: [
            // Bidirectional: the mounts made here must outlive the init container on the host.
            { name: "sys-fs", mountPath: "/sys/fs", mountPropagation: "Bidirectional" },
            { name: "var-run-calico", mountPath: "/var/run/calico", mountPropagation: "Bidirectional" },
            { name: "nodeproc", mountPath: "/nodeproc", readOnly: true },
        ],
        securityContext: { privileged: true },
    };
}

/** The v6 method follows the v4 one where it is family-neutral; cidr and can-reach name v4 targets. */
function ipv6Env(p: CalicoNodeParams): EnvVar[] {
    if (!p.ipv6) return [literal("IP6", "none"), literal("FELIX_IPV6SUPPORT", "false")];
    const kind = p.ipAutodetectionMethod.split("=")[0]?.trim();
    const neutral = kind === "interface" || kind === "skip-interface" || kind === "kubernetes-internal-ip" || kind === "first-found";
    return [
        literal("IP6", "autodetect"),
        ...(neutral ? [literal("IP6_AUTODETECTION_METHOD", p.ipAutodetectionMethod)] : []),
        literal("FELIX_IPV6SUPPORT", "true"),
    ];
}

function typhaEnv(serviceName: string): EnvVar[] {
    return [
        literal("FELIX_TYPHAK8SSERVICENAME", serviceName),
        literal("FELIX_TYPHACAFILE", certPath(TYPHA_CA, "ca")),
        literal("FELIX_TYPHACN", TYPHA_SERVER_CN),
        literal("FELIX_TYPHACERTFILE", certPath(NODE_CERTS, "cert")),
        literal("FELIX_TYPHAKEYFILE", certPath(NODE_CERTS, "key")),
    ];
}

function datastoreEnv(d: WorkloadDatastore): EnvVar[] {
    if (d.type === "kubernetes") return [literal("DATASTORE_TYPE", "kubernetes")];
    // The node controller in kube-controllers matches Calico nodes to Kubernetes nodes by this reference.
    return [literal("DATASTORE_TYPE", "etcdv3"), ...etcdEnv(), fromField("CALICO_K8S_NODE_REF", "spec.nodeName")];
}

/** BIRD only runs with the bird backend; probing it otherwise keeps the pod unready forever. */
function probes(backend: Backend): { liveness: Probe; readiness: Probe } {
    const bird = backend === "bird";
    const live = ["/bin/calico-node", "-felix-live", ...(bird ? ["-bird-live"] : [])];
    const ready = ["/bin/calico-node", "-felix-ready", ...(bird ? ["-bird-ready"] : [])];
    return {
        liveness: { exec: { command: live }, periodSeconds: 10, initialDelaySeconds: 10, failureThreshold: 6, timeoutSeconds: 10 },
        readiness: { exec: { command: ready }, periodSeconds: 10, timeoutSeconds: 10 },
    };
}

export function calicoNodeEnv(p: CalicoNodeParams): EnvVar[] {
    const mtu = String(p.mtu);
    return [
        ...datastoreEnv(p.datastore),
        ...(p.typhaServiceName !== undefined ? typhaEnv(p.typhaServiceName) : []),
        literal("WAIT_FOR_DATASTORE", "true"),
        fromField("NODENAME", "spec.nodeName"),
        literal("CALICO_NETWORKING_BACKEND", p.backend),
        literal("CLUSTER_TYPE", "k8s,bgp"),
        literal("IP", "autodetect"),
        literal("IP_AUTODETECTION_METHOD", p.ipAutodetectionMethod),
        ...ipv6Env(p),
        ...(p.usePodCidr ? [literal("USE_POD_CIDR", "true")] : []),
        // The program writes the CNI config and kubeconfig on the hosts; calico-node must not replace them.
        literal("CALICO_MANAGE_CNI", "false"),
        // Pools come only from config: calico-node must not create its 192.168.0.0/16 default pool.
        literal("NO_DEFAULT_POOLS", "true"),
        literal("FELIX_IPINIPMTU", mtu),
        literal("FELIX_VXLANMTU", mtu),
        literal("FELIX_WIREGUARDMTU", mtu),
        literal("CALICO_DISABLE_FILE_LOGGING", "true"),
        literal("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"),
        literal("FELIX_HEALTHENABLED", "true"),
    ];
}

export function buildCalicoNodeDaemonSet(p: CalicoNodeParams): DaemonSet {
    const ad = parseAutodetect(p.ipAutodetectionMethod);
    if (!ad.ok) throw new Error(`calicoNode.ipAutodetectionMethod: ${ad.reason}`);
    if (p.datastore.type === "etcd" && p.typhaServiceName !== undefined) {
        throw new Error("Typha is not used with the etcd datastore; leave typhaServiceName unset");
    }
    const typha = p.typhaServiceName !== undefined;
    const etcd = p.datastore.type === "etcd";
    const labels = appLabel(CALICO_NODE);
    const pr = probes(p.backend);
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: workloadMeta(CALICO_NODE),
        spec: {
            selector: { matchLabels: labels },
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
            template: {
                metadata: { labels, annotations: { [CERT_HASH_ANNOTATION]: p.certHash } },
                spec: {
                    nodeSelector: { ...LINUX_NODES },
                    hostNetwork: true,
                    // Every node, whatever its taints: without calico-node a node has no pod networking.
                    tolerations: [
                        { operator: "Exists", effect: "NoSchedule" },
                        CRITICAL_ADDONS_ONLY,
                        { operator: "Exists", effect: "NoExecute" },
                    ],
                    serviceAccountName: p.serviceAccountName,
                    securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                    // Deleted at once on rollout; the -shutdown hook has already withdrawn routes.
                    terminationGracePeriodSeconds: 0,
                    priorityClassName: "system-node-critical",
                    initContainers: [ebpfBootstrap(p.image)],
                    containers: [
                        {
                            name: CALICO_NODE,
                            image: p.image,
                            imagePullPolicy: "IfNotPresent",
                            envFrom: KUBE_SERVICES_ENDPOINT_FROM,
                            env: calicoNodeEnv(p),
                            securityContext: { privileged: true },
                            resources: { requests: { cpu: "250m" } },
                            lifecycle: { preStop: { exec: { command: ["/bin/calico-node", "-shutdown"] } } },
                            livenessProbe: pr.liveness,
                            readinessProbe: pr.readiness,
                            volumeMounts: [
                                ...NODE_MOUNTS,
                                ...(typha ? [certMount(TYPHA_CA), certMount(NODE_CERTS)] : []),
                                ...(etcd ? [ETCD_MOUNT] : []),
                            ],
                        },
                    ],
                    volumes: [
                        ...HOST_VOLUMES,
                        ...(typha ? [certVolume(TYPHA_CA, "configMap"), certVolume(NODE_CERTS, "secret")] : []),
                        ...(etcd ? [etcdVolume(0o400)] : []),
                    ],
                },
            },
        },
    };
}
