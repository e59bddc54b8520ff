import type { Backend } from "../config/schema";
import { CALICO_NODE, TYPHA_SERVER_CN, calicoDatastoreName } from "../facts/names";
import { type DataplaneParams, dataplaneEnv } from "./dataplane";
import { ETCD_MOUNT, etcdEnv, etcdVolume } from "./etcdClient";
import { CALICO_NODE_CNI_NET_MOUNT, type InstallCniParams, installCniContainer, installCniVolumes } from "./installCni";
import {
    ANY_NO_SCHEDULE,
    CRITICAL_ADDONS_ONLY,
    KUBE_SERVICES_ENDPOINT_FROM,
    NODE_CERTS,
    TYPHA_CA,
    certMount,
    certPath,
    certVolume,
    container,
    execLiveness,
    execReadiness,
    fromField,
    literal,
    podTemplate,
    workloadMeta,
} from "./pod";
import type { Container, DaemonSet, EnvVar, Probe, Volume, VolumeMount, WorkloadDatastore } from "./workloadTypes";

/**
 * Typha only on the Kubernetes datastore (config validation refuses Typha settings with etcd, and
 * config/derive.ts turns it off there): the type admits no other pairing.
 */
export type NodeDatastoreParams =
    | {
          datastore: Extract<WorkloadDatastore, { type: "kubernetes" }>;
          /** Typha's Service name, or undefined when Felix talks to the datastore directly. */
          typhaServiceName?: string;
      }
    | { datastore: Extract<WorkloadDatastore, { type: "etcd" }>; typhaServiceName?: undefined };

export type CalicoNodeParams<H = string> = NodeSettings<H> & NodeDatastoreParams;

interface NodeSettings<H> {
    image: string;
    backend: Backend;
    /** IP_AUTODETECTION_METHOD, as the config rules have checked it. */
    ipAutodetectionMethod: string;
    ipv6: boolean;
    /** IP6_AUTODETECTION_METHOD (config/derive.ts); unset, calico-node's own default (first-found). */
    ipv6AutodetectionMethod?: string;
    /** iptables, nftables or eBPF, and whether kube-proxy stays (builders/dataplane.ts). */
    dataplane: DataplaneParams;
    /** Per-node podCIDR IPAM (host-local, Spiderpool): BIRD then advertises each node's podCIDR. */
    usePodCidr: boolean;
    /** Pod MTU; the tunnel devices use the same value as the conflist. */
    mtu: number;
    /** Hash of the Typha CA and node cert (and etcd material) the pods mount, so a renewal rolls them; see podHash.ts. */
    certHash: H;
    serviceAccountName: string;
    /** `cni.delivery: daemonset`: the install-cni init container writes the CNI files; calico-node then keeps the token fresh. */
    installCni?: InstallCniParams;
}

function hostPath(name: string, path: string, type?: string): Volume {
    return { name, hostPath: type ? { path, type } : { path } };
}

/** Host paths calico-node uses (upstream's manifest), without the CNI dirs: only `cni.delivery: daemonset` adds them. */
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
    return container({
        name: "ebpf-bootstrap",
        image,
        command: ["calico-node", "-init", "-best-effort"],
        volumeMounts: [
            // Bidirectional: the mounts made here must outlive the init container on the host.
            { name: "sys-fs", mountPath: "/sys/fs", mountPropagation: "Bidirectional" },
            { name: "var-run-calico", mountPath: "/var/run/calico", mountPropagation: "Bidirectional" },
            { name: "nodeproc", mountPath: "/nodeproc", readOnly: true },
        ],
        securityContext: { privileged: true },
    });
}

function ipv6Env<H>(p: CalicoNodeParams<H>): EnvVar[] {
    if (!p.ipv6) return [literal("IP6", "none"), literal("FELIX_IPV6SUPPORT", "false")];
    const mtu = String(p.mtu);
    return [
        literal("IP6", "autodetect"),
        ...(p.ipv6AutodetectionMethod !== undefined ? [literal("IP6_AUTODETECTION_METHOD", p.ipv6AutodetectionMethod)] : []),
        literal("FELIX_IPV6SUPPORT", "true"),
        // The IPv6 tunnels get the pod MTU too, like the IPv4 ones below.
        literal("FELIX_VXLANMTUV6", mtu),
        literal("FELIX_WIREGUARDMTUV6", mtu),
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
    const type = literal("DATASTORE_TYPE", calicoDatastoreName(d.type));
    if (d.type === "kubernetes") return [type];
    // The node controller in kube-controllers matches Calico nodes to Kubernetes nodes by this reference.
    return [type, ...etcdEnv(), fromField("CALICO_K8S_NODE_REF", "spec.nodeName")];
}

/** BIRD only runs with the bird backend (BIRD6 beside it with IPv6); probing it otherwise keeps the pod unready forever. */
function probes(backend: Backend, ipv6: boolean): { liveness: Probe; readiness: Probe } {
    const bird = (check: string) => (backend !== "bird" ? [] : ipv6 ? [`-bird-${check}`, `-bird6-${check}`] : [`-bird-${check}`]);
    const live = ["/bin/calico-node", "-felix-live", ...bird("live")];
    const ready = ["/bin/calico-node", "-felix-ready", ...bird("ready")];
    return { liveness: execLiveness(live), readiness: execReadiness(ready, 10) };
}

export function calicoNodeEnv<H>(p: CalicoNodeParams<H>): EnvVar[] {
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
        ...dataplaneEnv(p.dataplane),
        ...(p.usePodCidr ? [literal("USE_POD_CIDR", "true")] : []),
        // Over SSH the program writes the CNI kubeconfig (x509) and calico-node must not replace it; with
        // install-cni, calico-node renews the calico-cni-plugin token in it before the token expires.
        literal("CALICO_MANAGE_CNI", p.installCni ? "true" : "false"),
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

export function buildCalicoNodeDaemonSet<H = string>(p: CalicoNodeParams<H>): DaemonSet<H> {
    const typha = p.typhaServiceName !== undefined;
    const etcd = p.datastore.type === "etcd";
    const pr = probes(p.backend, p.ipv6);
    const template = podTemplate(
        { app: CALICO_NODE, serviceAccountName: p.serviceAccountName, priorityClassName: "system-node-critical", certHash: p.certHash },
        {
            hostNetwork: true,
            // Every node, whatever its taints: without calico-node a node has no pod networking.
            tolerations: [ANY_NO_SCHEDULE, CRITICAL_ADDONS_ONLY, { operator: "Exists", effect: "NoExecute" }],
            // Deleted at once on rollout; the -shutdown hook has already withdrawn routes.
            terminationGracePeriodSeconds: 0,
            initContainers: [...(p.installCni ? [installCniContainer(p.installCni)] : []), ebpfBootstrap(p.image)],
            containers: [
                container({
                    name: CALICO_NODE,
                    image: p.image,
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
                        ...(p.installCni ? [CALICO_NODE_CNI_NET_MOUNT] : []),
                    ],
                }),
            ],
            volumes: [
                ...HOST_VOLUMES,
                ...(typha ? [certVolume(TYPHA_CA, "configMap"), certVolume(NODE_CERTS, "secret")] : []),
                ...(etcd ? [etcdVolume(0o400)] : []),
                ...(p.installCni ? installCniVolumes(p.installCni) : []),
            ],
        },
    );
    return {
        apiVersion: "apps/v1",
        kind: "DaemonSet",
        metadata: workloadMeta(CALICO_NODE),
        spec: {
            selector: { matchLabels: template.metadata.labels },
            updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
            template,
        },
    };
}
