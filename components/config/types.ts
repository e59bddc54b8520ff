import type * as pulumi from "@pulumi/pulumi";
import type { CalicoImage } from "../versions";
import type { ParsedConfig } from "./schema";

/** Plaintext of the secret config keys, as the engine hands them to the program. Never logged. */
export interface RawSecrets {
    clusterCaKey?: string;
    sshPrivateKey?: string;
    sshPrivateKeys?: Record<string, string>;
    etcdCaCert?: string;
    etcdCert?: string;
    etcdKey?: string;
    /** `alicloud:accessKey` / `alicloud:secretKey`: the explicit alicloud provider does not read that namespace itself. */
    alicloudAccessKey?: string;
    alicloudSecretKey?: string;
}

/** What validation may ask of the world outside the config, injected so validation stays pure. */
export interface ConfigEnv {
    /** sha256 (hex) of a local file, or undefined when it does not exist. */
    fileSha256(path: string): string | undefined;
    /**
     * A local folder with symbolic links resolved (itself when it does not exist). The CNI upload copies
     * `cni.localBinDir` as a folder archive, and neither the engine nor the providers descend into a link.
     */
    realDir(path: string): string;
    /** Secret keys that were set in plaintext (without `--secret`). */
    plaintextSecretKeys: string[];
    /**
     * The secrets' values are not at hand, only whether each is set (`npm run verify` reads the config
     * without `--show-secrets`): rules check that a secret is set, not its content.
     */
    secretValuesHidden: boolean;
    /** SSH_AUTH_SOCK where pulumi runs: the agent that nodes without a key authenticate through. */
    sshAuthSock: string | undefined;
}

/**
 * A pool as this stack's last update exported it (the `pools` output, builders/ippool.ts): what the next
 * run compares its config against, so a pool's range is never edited in place (rules/poolHistory.ts).
 */
export interface PreviousPool {
    name: string;
    cidr: string;
    blockSize: number;
    disabled: boolean;
}

/** A binary for the CNI bin dir: copied from the Pulumi machine, or downloaded on the host. */
export type CniBinary =
    | { name: string; source: "local"; path: string; sha256: string }
    | { name: string; source: "download"; url: string; sha256: string; archiveMember?: string };

/** A node with its SSH settings resolved (its own port and user, else `calico:ssh`'s). */
export interface ResolvedNode {
    name: string;
    address: string;
    port: number;
    user: string;
    podCidr?: string;
    instanceId?: string;
    routeReflectorClusterId?: string;
    /** Where the other nodes reach this one, when not at `address` (the preflight's TCP 179 check). */
    internalAddress?: string;
    /** SSH private key; undefined where the node authenticates through the agent. */
    sshKey?: pulumi.Input<string>;
}

/** etcd client TLS material; all three stay Pulumi secrets. */
export interface EtcdTls {
    caCert: pulumi.Input<string>;
    cert: pulumi.Input<string>;
    key: pulumi.Input<string>;
}

/** Where Calico keeps its data: the CRD manifest to apply, or the etcd cluster and its client TLS. */
export type ResolvedDatastore =
    { type: "kubernetes"; crds: string; crdDescriptions: boolean } | { type: "etcd"; endpoints: string[]; tls: EtcdTls };

/** The cluster CA that signs the CNI client cert: given in config, or read from a node over SSH. */
export type ClusterCaSource =
    | { from: "config"; certPem: string; keyPem: pulumi.Input<string> }
    | { from: "node"; node: ResolvedNode; certPath: string; keyPath: string };

/** A node that carries a VPC route: validation guarantees both fields when routes are on. */
export interface RoutedNode {
    name: string;
    podCidr: string;
    instanceId: string;
}

export interface ResolvedAliyun {
    region: string;
    /** The route table: given, or the only one of a VPC (validation allows exactly one of the two keys). */
    table: { routeTableId: string } | { vpcId: string };
    nodes: RoutedNode[];
    /** Credentials from `alicloud:*` config; unset ones fall back to the provider's environment. */
    accessKey?: pulumi.Input<string>;
    secretKey?: pulumi.Input<string>;
}

/**
 * Config after validation: zod's defaults applied, and every value a component needs derived once, so
 * no builder or resource defaults or re-derives anything.
 */
export interface CalicoConfig extends Omit<ParsedConfig, "nodes" | "datastore" | "typha" | "aliyun" | "verify"> {
    /** Sorted by name: the order config lists them in never changes what is built. */
    nodes: ResolvedNode[];
    datastore: ResolvedDatastore;
    /** The CA that signs the calico-cni certificate; unset with `cni.delivery: daemonset` (ServiceAccount token instead). */
    clusterCa?: ClusterCaSource;
    typha: {
        /** Whether Typha runs: asked for, on the Kubernetes datastore, with more than zero replicas. */
        enabled: boolean;
        /** `typha.replicas`, or the operator's count for the node count. */
        replicas: number;
        tolerateControlPlane: boolean;
        /** Typha's Prometheus port on the node's loopback; 0: off. */
        metricsPort: number;
    };
    verify: ParsedConfig["verify"] & {
        /** `verify.probeImage`, or the pinned probe image under `calico:registry`. */
        probeImage: string;
    };
    /** Set when `aliyun.enabled`. */
    aliyun?: ResolvedAliyun;
    images: Record<CalicoImage, string>;
    /** Pod (veth) MTU used in the conflist and in Felix. */
    mtu: number;
    /** IPAM hands out each node's Kubernetes podCIDR (host-local, Spiderpool): BGP advertises those. */
    usePodCidr: boolean;
    /** The plugins the conflist calls (with the loopback and host-local the kubelet and tests use), sorted. */
    cniPlugins: string[];
    /** Binaries for every node's CNI bin dir, sorted by name; empty with `cni.delivery: daemonset` (the image's). */
    cniBinaries: CniBinary[];
}
