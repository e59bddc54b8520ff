import { z } from "zod";
import { DatastoreTypes, TYPHA_METRICS_PORT, VERIFY_NAMESPACE } from "../facts/names";
import { ALL_NODES } from "../facts/selector";
import { CALICO_VERSION, DEFAULT_REGISTRY } from "../versions";

/**
 * The shape of the `calico:*` stack config. zod checks types, enums and defaults; the rules in
 * `rules/` check what spans keys (CIDR containment, backend vs pools, ...). Strict objects make a
 * misspelt key an error instead of a silently ignored setting.
 */

export const EncapModes = ["Always", "CrossSubnet", "Never"] as const;
export type EncapMode = (typeof EncapModes)[number];

export const Backends = ["bird", "vxlan", "none"] as const;
export type Backend = (typeof Backends)[number];

export const IpamModes = ["calico-ipam", "host-local", "spiderpool"] as const;
export type IpamMode = (typeof IpamModes)[number];

/** How the CNI plugin reaches the hosts: over SSH from Pulumi (the hard way), or by calico-node's install-cni. */
export const CniDeliveries = ["ssh", "daemonset"] as const;
export type CniDelivery = (typeof CniDeliveries)[number];

/** Felix's Linux dataplane (calicoNode.dataplane); see builders/dataplane.ts. */
export const Dataplanes = ["iptables", "nftables", "bpf"] as const;
export type Dataplane = (typeof Dataplanes)[number];

/** Whether kube-proxy still runs on the nodes; only the bpf dataplane can take its place. */
export const KubeProxyModes = ["running", "removed"] as const;
export type KubeProxyMode = (typeof KubeProxyModes)[number];

export const CniLogLevels = ["debug", "info", "warning", "error"] as const;
export const LogSeverities = ["Debug", "Info", "Warning", "Error", "Fatal"] as const;

/** Binaries every node needs in the CNI bin dir; `bandwidth` joins when `cni.bandwidth` is on. */
export const REQUIRED_CNI_BINARIES = ["calico", "calico-ipam", "portmap", "loopback", "host-local"] as const;

const name = z.string().min(1);

const download = z.strictObject({
    /** Fetched on the host with curl. */
    url: z.string().min(1),
    /** Hex sha256 of the downloaded file; the install fails on a mismatch. */
    sha256: z.string(),
    /** When the URL is a .tgz, the member to extract (e.g. `./portmap`). */
    archiveMember: z.string().min(1).optional(),
});

const node = z.strictObject({
    name,
    /** SSH address (IP or host name) the program connects to. */
    address: z.string(),
    port: z.number().int().optional(),
    user: z.string().min(1).optional(),
    /** This node's Kubernetes podCIDR, for host-local/spiderpool IPAM and cloud routes. */
    podCidr: z.string().optional(),
    /** ECS instance id, the next hop of this node's VPC route (Alibaba Cloud). */
    instanceId: z.string().optional(),
    /** Marks the node as a BGP route reflector with this cluster ID (dotted IPv4). */
    routeReflectorClusterId: z.string().optional(),
    /** Where the other nodes reach this one (its InternalIP), when SSH goes elsewhere; the preflight's TCP 179 check. */
    internalAddress: z.string().optional(),
});

const pool = z.strictObject({
    name,
    cidr: z.string(),
    blockSize: z.number().int().default(26),
    ipipMode: z.enum(EncapModes).default("Never"),
    vxlanMode: z.enum(EncapModes).default("Never"),
    natOutgoing: z.boolean().default(true),
    disabled: z.boolean().default(false),
    nodeSelector: z.string().min(1).default(ALL_NODES),
    disableBGPExport: z.boolean().default(false),
});

const bgpPeer = z.strictObject({
    name,
    peerIP: z.string(),
    asNumber: z.number().int(),
    /** Calico selector of the nodes that peer; omitted means every node. */
    nodeSelector: z.string().min(1).default(ALL_NODES),
});

export const rawConfigSchema = z.strictObject({
    calicoVersion: z.string().default(CALICO_VERSION),
    registry: z.string().min(1).default(DEFAULT_REGISTRY),
    cluster: z.strictObject({
        podCidr: z.string(),
        /** The IPv6 pod range of a dual-stack cluster (kubeadm `--pod-network-cidr=<v4>,<v6>`). */
        podCidrV6: z.string().optional(),
        apiServer: z.string(),
        /** Cluster CA certificate PEM (public). With `clusterCaKey` (secret) it signs the CNI cert. */
        caCert: z.string().optional(),
        /** Read the CA over SSH from this node instead (as the hard way does on the control plane). */
        caFromNode: z.string().optional(),
        caCertPath: z.string().default("/etc/kubernetes/pki/ca.crt"),
        caKeyPath: z.string().default("/etc/kubernetes/pki/ca.key"),
        /** Network MTU of the hosts; the pod MTU is derived from it and the encapsulation. */
        networkMtu: z.number().int().default(1500),
    }),
    ssh: z
        .strictObject({
            user: z.string().min(1).default("root"),
            port: z.number().int().default(22),
            /** Authenticate through the SSH agent (SSH_AUTH_SOCK) instead of a private key. */
            useAgent: z.boolean().default(false),
        })
        .prefault({}),
    /** Every node with `cni.delivery: ssh`; with `daemonset`, only nodes that need per-node settings. */
    nodes: z.array(node).default([]),
    pools: z.array(pool),
    datastore: z
        .strictObject({
            type: z.enum(DatastoreTypes).default("kubernetes"),
            /** Local path of the CRD manifest (air-gapped); default is the release URL. */
            crdsFile: z.string().min(1).optional(),
            /**
             * Keep the field descriptions in the CRDs' schemas (`kubectl explain` shows them). Off by default:
             * they are two fifths of the schemas, which are most of the stack's state (builders/crds.ts).
             */
            crdDescriptions: z.boolean().default(false),
            etcdEndpoints: z.array(z.string()).default([]),
        })
        .prefault({}),
    pki: z
        .strictObject({
            rsaBits: z.number().int().default(2048),
            /**
             * The calico-cni client key: ECDSA P-256, or RSA of `rsaBits`. ECDSA by default: it is in the CNI
             * kubeconfig that every node's install carries, so the state holds it once per node (docs/configuration.md).
             */
            cniKeyAlgorithm: z.enum(["ECDSA", "RSA"]).default("ECDSA"),
            validityHours: z.number().int().default(8760),
            earlyRenewalHours: z.number().int().default(720),
        })
        .prefault({}),
    cni: z
        .strictObject({
            /** `ssh`: the program writes the files on every listed node; `daemonset`: calico-node's install-cni does, on every node. */
            delivery: z.enum(CniDeliveries).default("ssh"),
            mtu: z.number().int().optional(),
            logLevel: z.enum(CniLogLevels).default("info"),
            binDir: z.string().default("/opt/cni/bin"),
            confDir: z.string().default("/etc/cni/net.d"),
            ipam: z.enum(IpamModes).default("calico-ipam"),
            bandwidth: z.boolean().default(false),
            /** Directory on the machine running Pulumi with the binaries to copy over SSH (air-gapped). */
            localBinDir: z.string().min(1).optional(),
            /** Per-binary downloads done on the host, checked against sha256. */
            downloads: z.record(z.string(), download).default({}),
            /**
             * The preflight also checks TCP 179 to the node's BGP peers. Off by default: the peers are then part of
             * each node's install, so adding or removing a node re-runs (without changing files) up to 16 others'.
             */
            preflightBgpPeers: z.boolean().default(false),
            /** Write a NetworkManager rule that leaves Calico's interfaces alone (calico#3271). */
            manageNetworkManager: z.boolean().default(false),
        })
        .prefault({}),
    typha: z
        .strictObject({
            /** Unset: on with the Kubernetes datastore, off with etcd (where `true` is refused). */
            enabled: z.boolean().optional(),
            replicas: z.number().int().optional(),
            tolerateControlPlane: z.boolean().default(false),
            /** Typha's Prometheus port, on the node's loopback only; `npm run verify` counts Felix connections there. 0: off. */
            metricsPort: z.number().int().default(TYPHA_METRICS_PORT),
        })
        .prefault({}),
    calicoNode: z
        .strictObject({
            backend: z.enum(Backends).default("bird"),
            ipAutodetectionMethod: z.string().default("first-found"),
            ipv6: z.boolean().default(false),
            /** IP6_AUTODETECTION_METHOD; unset, the IPv4 method where it is family-neutral (config/derive.ts). */
            ipv6AutodetectionMethod: z.string().optional(),
            dataplane: z.enum(Dataplanes).default("iptables"),
            kubeProxy: z.enum(KubeProxyModes).default("running"),
        })
        .prefault({}),
    kubeControllers: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
    bgp: z
        .strictObject({
            asNumber: z.number().int().default(64512),
            nodeToNodeMesh: z.boolean().default(true),
            logSeverity: z.enum(LogSeverities).default("Info"),
            serviceClusterIPs: z.array(z.string()).default([]),
            serviceExternalIPs: z.array(z.string()).default([]),
            peers: z.array(bgpPeer).default([]),
        })
        .prefault({}),
    felix: z
        .strictObject({
            logSeverity: z.enum(LogSeverities).optional(),
            prometheusMetricsEnabled: z.boolean().optional(),
            prometheusMetricsPort: z.number().int().optional(),
            wireguard: z.strictObject({ ipv4: z.boolean().default(false), ipv6: z.boolean().default(false) }).prefault({}),
            /** FelixConfiguration spec fields, checked against the pinned CRD (config/rules/felixSettings.ts). */
            settings: z.record(z.string(), z.unknown()).default({}),
        })
        .prefault({}),
    /** `npm run verify`: its probe pods. */
    verify: z
        .strictObject({
            /** Unset: `<registry>/submariner/nettest:<tag>` (versions.ts). */
            probeImage: z.string().min(1).optional(),
            namespace: z.string().default(VERIFY_NAMESPACE),
            /** At most this many nodes get probe pods (every pair of them is pinged); `--sample` overrides it. */
            sampleNodes: z.number().int().default(10),
            /** How long verify waits for each step (pods running, probes done, node status reported). */
            timeoutSeconds: z.number().int().default(120),
            /** Length of each iperf3 run with `--perf`. */
            perfSeconds: z.number().int().default(5),
        })
        .prefault({}),
    aliyun: z
        .strictObject({
            enabled: z.boolean().default(false),
            region: z.string().optional(),
            routeTableId: z.string().optional(),
            vpcId: z.string().optional(),
            routeQuota: z.number().int().default(200),
        })
        .prefault({}),
});

export type RawConfig = z.input<typeof rawConfigSchema>;
export type ParsedConfig = z.output<typeof rawConfigSchema>;
export type NodeConfig = ParsedConfig["nodes"][number];
export type PoolConfig = ParsedConfig["pools"][number];
export type BgpPeerConfig = ParsedConfig["bgp"]["peers"][number];
export type DownloadConfig = z.output<typeof download>;

/** Config keys under the `calico:` namespace that hold secrets; read with getSecret, never logged. */
export const SECRET_KEYS = ["clusterCaKey", "sshPrivateKey", "sshPrivateKeys", "etcdCaCert", "etcdCert", "etcdKey"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];
