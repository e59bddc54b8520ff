import { expectedTyphaReplicas } from "../facts/replicas";
import { calicoCrdsUrl, calicoImages, probeImage } from "../versions";
import { podMtuOverhead } from "./mtu";
import { requiredCniBinaries } from "./rules/cni";
import type { NodeConfig, ParsedConfig } from "./schema";
import type { CalicoConfig, CniBinary, ConfigEnv, RawSecrets, ResolvedNode } from "./types";
import type * as pulumi from "@pulumi/pulumi";

/** Turns a plaintext secret into what the program hands on (pulumi.secret in the program, itself in tests). */
export type WrapSecret = (s: string) => pulumi.Input<string>;

/** A node's SSH port and user: its own, else `calico:ssh`'s. The rules check these same values. */
export function sshTarget(cfg: ParsedConfig, node: NodeConfig): { port: number; user: string } {
    return { port: node.port ?? cfg.ssh.port, user: node.user ?? cfg.ssh.user };
}

/** Pod MTU: the configured one, or the network MTU less the largest encapsulation overhead in use (config/mtu.ts). */
export function derivePodMtu(cfg: ParsedConfig): number {
    return cfg.cni.mtu ?? cfg.cluster.networkMtu - podMtuOverhead(cfg).bytes;
}

/**
 * IP6_AUTODETECTION_METHOD: the configured one, else the IPv4 method where it is family-neutral (interface
 * names, the node's InternalIPs, first-found); cidr= and can-reach= name IPv4 targets, so calico-node's
 * default (first-found) applies then.
 */
export function deriveIpv6AutodetectionMethod(n: ParsedConfig["calicoNode"]): string | undefined {
    if (!n.ipv6) return undefined;
    if (n.ipv6AutodetectionMethod !== undefined) return n.ipv6AutodetectionMethod;
    const kind = n.ipAutodetectionMethod.split("=")[0]?.trim() ?? "";
    return ["first-found", "kubernetes-internal-ip", "interface", "skip-interface"].includes(kind) ? n.ipAutodetectionMethod : undefined;
}

function cniBinaries(cfg: ParsedConfig, env: ConfigEnv): CniBinary[] {
    return requiredCniBinaries(cfg).map((name): CniBinary => {
        const d = cfg.cni.downloads[name];
        if (d) return { name, source: "download", url: d.url, sha256: d.sha256, archiveMember: d.archiveMember };
        const path = `${env.realDir((cfg.cni.localBinDir ?? "").replace(/\/+$/, ""))}/${name}`;
        return { name, source: "local", path, sha256: env.fileSha256(path) ?? "" };
    });
}

// Lists sorted by name: the order config lists them in never changes what is built.
const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => a.name.localeCompare(b.name));

/**
 * Everything the components need, from a config the rules have passed: each fallback the rules made
 * safe is taken here, once, so builders and resources take required values. Pure, like validation.
 */
export function deriveConfig(cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv, wrap: WrapSecret): CalicoConfig {
    const optional = (s: string | undefined) => (s === undefined ? undefined : wrap(s));
    const nodes: ResolvedNode[] = byName(cfg.nodes).map((n) => ({
        ...n,
        ...sshTarget(cfg, n),
        sshKey: optional(secrets.sshPrivateKeys?.[n.name] ?? secrets.sshPrivateKey),
    }));
    const d = cfg.datastore;
    const datastore: CalicoConfig["datastore"] =
        d.type === "etcd"
            ? {
                  type: "etcd",
                  endpoints: d.etcdEndpoints,
                  // The datastore rules refuse etcd without all three.
                  tls: { caCert: wrap(secrets.etcdCaCert ?? ""), cert: wrap(secrets.etcdCert ?? ""), key: wrap(secrets.etcdKey ?? "") },
              }
            : { type: "kubernetes", crds: d.crdsFile ?? calicoCrdsUrl(cfg.calicoVersion), crdDescriptions: d.crdDescriptions };
    const c = cfg.cluster;
    const caNode = nodes.find((n) => n.name === c.caFromNode);
    const ssh = cfg.cni.delivery === "ssh";
    const clusterCa: CalicoConfig["clusterCa"] = !ssh
        ? undefined
        : caNode
          ? { from: "node", node: caNode, certPath: c.caCertPath, keyPath: c.caKeyPath }
          : { from: "config", certPem: c.caCert ?? "", keyPem: wrap(secrets.clusterCaKey ?? "") };
    const t = cfg.typha;
    // With cni.delivery daemonset the rules require typha.replicas: the node list need not be the cluster.
    const replicas = t.replicas ?? expectedTyphaReplicas(nodes.length);
    const a = cfg.aliyun;
    return {
        ...cfg,
        nodes,
        pools: byName(cfg.pools),
        calicoNode: { ...cfg.calicoNode, ipv6AutodetectionMethod: deriveIpv6AutodetectionMethod(cfg.calicoNode) },
        bgp: { ...cfg.bgp, peers: byName(cfg.bgp.peers) },
        datastore,
        clusterCa,
        // Typha only on the Kubernetes datastore (rules/datastore.ts refuses its settings with etcd): decided
        // here once, and the workloads' types admit no Typha with etcd. Zero replicas would leave Felix
        // dialling a Service without endpoints: that is Typha off.
        typha: {
            enabled: d.type === "kubernetes" && t.enabled !== false && replicas !== 0,
            replicas,
            tolerateControlPlane: t.tolerateControlPlane,
            metricsPort: t.metricsPort,
        },
        aliyun: a.enabled
            ? {
                  region: a.region ?? "",
                  table: a.routeTableId !== undefined ? { routeTableId: a.routeTableId } : { vpcId: a.vpcId ?? "" },
                  nodes: nodes.map((n) => ({ name: n.name, podCidr: n.podCidr ?? "", instanceId: n.instanceId ?? "" })),
                  accessKey: optional(secrets.alicloudAccessKey),
                  secretKey: optional(secrets.alicloudSecretKey),
              }
            : undefined,
        images: calicoImages(cfg.calicoVersion, cfg.registry),
        verify: { ...cfg.verify, probeImage: cfg.verify.probeImage ?? probeImage(cfg.registry) },
        mtu: derivePodMtu(cfg),
        usePodCidr: cfg.cni.ipam !== "calico-ipam",
        cniPlugins: requiredCniBinaries(cfg),
        cniBinaries: ssh ? cniBinaries(cfg, env) : [],
    };
}
