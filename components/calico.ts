import * as pulumi from "@pulumi/pulumi";
import { type StageUpload, stageUpload } from "./resources/uploadStage";
import type { RouteSummary } from "./builders/aliyunRoutes";
import { routeReflectors } from "./builders/bgp";
import { felixSettings } from "./builders/felixSettings";
import { renderCalicoctlConfig } from "./builders/calicoctl";
import { APPLIED_OUTPUT, type AppliedNames } from "./builders/calicoctlApply";
import { calicoctlDatastore, cniEtcdDatastore, etcdHostFiles } from "./builders/etcdHost";
import { POOLS_OUTPUT, poolSummary } from "./builders/ippool";
import { preflightChecksPlan, preflightPlan } from "./builders/preflight";
import type { CniDelivery } from "./config/schema";
import type { CalicoConfig } from "./config/types";
import { after } from "./resources/after";
import type { AliyunRoutes } from "./resources/aliyunRoutes";
import { Bgp } from "./resources/bgp";
import { CalicoctlApply } from "./resources/calicoctlApply";
import { Cni } from "./resources/cni";
import { clusterCa } from "./resources/clusterCa";
import { Datastore } from "./resources/datastore";
import { type ClientDatastore, EtcdClient } from "./resources/etcdClient";
import { IpPools } from "./resources/ipPools";
import type { PreviousOutputs } from "./resources/previousOutputs";
import { CalicoPki } from "./resources/pki";
import { Spiderpool } from "./resources/spiderpool";
import { type WorkloadOutputs, Workloads, calicoWorkloads } from "./resources/workloads";

/** kubeadm's admin kubeconfig on a control-plane node, where calicoctl usually runs. */
export const CALICOCTL_KUBECONFIG = "/etc/kubernetes/admin.conf";

export interface CalicoArgs {
    /** Resolved config (see components/config/load.ts). */
    config: CalicoConfig;
    /** This stack's last outputs, read before any resource registers (resources/previousOutputs.ts). */
    previous: PreviousOutputs;
    /** How the local CNI binaries' upload is staged; the default gzips them into the user's cache (tests pass their own). */
    stageUpload?: StageUpload;
}

/**
 * The stack outputs (index.ts returns them as they are). Typed, so a misspelt output fails `tsc` instead of
 * exporting undefined; every name is always present, undefined where it does not apply.
 */
export interface CalicoOutputs extends WorkloadOutputs {
    calicoVersion: string;
    /** Read back by the next run (resources/previousOutputs.ts): name, cidr, blockSize and disabled of every pool. */
    [POOLS_OUTPUT]: ReturnType<typeof poolSummary>[];
    nodes: { name: string; address: string }[];
    /** Secret; only with `cni.delivery: ssh` (install-cni writes a token kubeconfig on each host). */
    cniKubeconfig: pulumi.Output<string> | undefined;
    /** The CNI client certificate (public, no key), only with `cni.delivery: ssh`: `npm run verify` reads its expiry here. */
    cniClientCert: pulumi.Output<string> | undefined;
    cniDelivery: CniDelivery;
    calicoctlConfig: string;
    podMtu: number;
    /** Only when `calico:aliyun.enabled`: the route table, and node → destination → next hop. */
    aliyunRouteTableId: pulumi.Output<string> | undefined;
    aliyunRoutes: RouteSummary[] | undefined;
    /**
     * Only with the etcd datastore: every IPPool and BGPPeer name applied with calicoctl. The next run reads
     * it back (resources/previousOutputs.ts) to delete what config no longer has.
     */
    [APPLIED_OUTPUT]: pulumi.Output<AppliedNames> | undefined;
}

/**
 * The whole installation, in the hard way's order: certificates, datastore (CRDs), IP pools, the CNI
 * plugin on every host, then the workloads. Build it with `new Calico("calico", { config, previous: await readPreviousOutputs() })`.
 *
 * One rule for every component here: it registers no inputs. Its children carry them; registered on
 * the component too, each change would show twice in `pulumi preview`, and keys (the cluster CA's, the
 * TLS identities') would sit in the component's state besides the child that needs them.
 */
export class Calico extends pulumi.ComponentResource {
    public readonly pki: CalicoPki;
    public readonly datastore?: Datastore;
    /** IPPool custom resources; on the Kubernetes datastore only (with etcd they are in calicoctlApply). */
    public readonly ipPools?: IpPools;
    public readonly cni: Cni;
    /** BGP topology and Felix knobs as custom resources; on the Kubernetes datastore only. */
    public readonly bgp?: Bgp;
    /** With etcd: the client Secret and ConfigMap the Job, calico-node and kube-controllers mount. */
    public readonly etcdClient?: EtcdClient;
    /** With etcd: pools, BGP and Felix settings applied to etcd by a calicoctl Job. */
    public readonly calicoctlApply?: CalicoctlApply;
    /** Per-node SpiderIPPools; set when cni.ipam is spiderpool. */
    public readonly spiderpool?: Spiderpool;
    /** Typha, calico/node and kube-controllers. */
    public readonly workloads: Workloads;
    /** VPC route entries for non-tunnel mode on Alibaba Cloud; set when aliyun.enabled. */
    public readonly aliyunRoutes?: AliyunRoutes;
    public readonly outputs: CalicoOutputs;

    constructor(name: string, args: CalicoArgs, opts?: pulumi.ComponentResourceOptions) {
        super("calico:index:Calico", name, {}, opts);
        const cfg = args.config;
        const parent = { parent: this };
        // Only SSH delivery signs a client certificate with the cluster CA (daemonset: a ServiceAccount token).
        const ca = cfg.clusterCa ? clusterCa(cfg.clusterCa, this) : undefined;
        this.pki = new CalicoPki("pki", { clusterCa: ca, ...cfg.pki }, parent);
        const felix = felixSettings(cfg);
        const ds = cfg.datastore;

        // Kubernetes datastore: CRDs first; pools and BGP settings are custom resources that wait for them.
        // etcd datastore: no CRDs; pools and BGP settings reach etcd through a calicoctl Job instead.
        let afterCrds: pulumi.Input<pulumi.Resource[]> = [];
        let pools: pulumi.Resource;
        let workloadStore: ClientDatastore = { type: "kubernetes" };
        if (ds.type === "kubernetes") {
            this.datastore = new Datastore("datastore", { crds: ds.crds, descriptions: ds.crdDescriptions }, parent);
            afterCrds = this.datastore.crdResources;
            this.ipPools = new IpPools("ip-pools", { pools: cfg.pools }, { ...parent, ...after(afterCrds) });
            this.bgp = new Bgp(
                "bgp",
                { bgp: cfg.bgp, felix, routeReflectors: routeReflectors(cfg.nodes) },
                { ...parent, ...after(afterCrds) },
            );
            pools = this.ipPools;
        } else {
            // Before its three consumers: the calicoctl Job, calico-node and kube-controllers mount it.
            this.etcdClient = new EtcdClient("etcd-client", { endpoints: ds.endpoints, tls: ds.tls }, parent);
            workloadStore = { type: "etcd", endpoints: ds.endpoints, client: this.etcdClient };
            this.calicoctlApply = new CalicoctlApply(
                "calicoctl-apply",
                {
                    image: cfg.images.ctl,
                    pools: cfg.pools,
                    bgp: cfg.bgp,
                    felix,
                    previous: args.previous.calicoctlApplied,
                    etcd: this.etcdClient,
                },
                parent,
            );
            pools = this.calicoctlApply;
        }

        // With etcd the CNI plugin reaches etcd itself, through client files written next to its config.
        const confDir = cfg.cni.confDir;
        this.cni = new Cni(
            "cni",
            {
                cni: cfg.cni,
                mtu: cfg.mtu,
                ipv6: cfg.calicoNode.ipv6,
                apiServer: cfg.cluster.apiServer,
                image: cfg.images.cni,
                plugins: cfg.cniPlugins,
                binaries: cfg.cniBinaries,
                // Over SSH only: with daemonset delivery the cluster's own nodes get the files, listed or not.
                nodes: cfg.cni.delivery === "ssh" ? cfg.nodes.map((node) => ({ node, preflight: preflightPlan(cfg, node.name) })) : [],
                preflight: preflightChecksPlan(cfg),
                x509: ca && this.pki.cni ? { clusterCaCertPem: ca.certPem, cert: this.pki.cni } : undefined,
                datastore: ds.type === "etcd" ? cniEtcdDatastore(confDir, ds.endpoints) : { type: "kubernetes" },
                extraHostFiles: ds.type === "etcd" ? etcdHostFiles(confDir, ds.tls) : [],
                stageUpload: args.stageUpload ?? stageUpload,
            },
            parent,
        );
        if (cfg.cni.ipam === "spiderpool") {
            const nodes = cfg.nodes.flatMap((n) => (n.podCidr !== undefined ? [{ name: n.name, podCidr: n.podCidr }] : []));
            this.spiderpool = new Spiderpool("spiderpool", { nodes, clusterPodCidr: cfg.cluster.podCidr }, parent);
        }
        if (cfg.aliyun) {
            // Loaded only when used: @pulumi/alicloud is slow to load, and every preview would pay for it.
            // A synchronous constructor cannot await import().
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const { AliyunRoutes: Routes } = require("./resources/aliyunRoutes") as typeof import("./resources/aliyunRoutes");
            this.aliyunRoutes = new Routes("aliyun-routes", cfg.aliyun, parent);
        }

        // calico-node starts once its pools exist, or it would create Calico's default pool.
        this.workloads = calicoWorkloads(this, cfg, this.pki, {
            crds: afterCrds,
            cni: [this.cni],
            installCni: this.cni.installCni,
            datastore: workloadStore,
            pools,
            hostInputs: this.pki.cni ? [this.pki.cni.resource] : [],
        });

        // In the order the stack exports them.
        this.outputs = {
            calicoVersion: cfg.calicoVersion,
            [POOLS_OUTPUT]: cfg.pools.map(poolSummary),
            nodes: cfg.nodes.map((n) => ({ name: n.name, address: n.address })),
            cniKubeconfig: this.cni.kubeconfig,
            cniClientCert: this.pki.cni?.certPem,
            cniDelivery: cfg.cni.delivery,
            calicoctlConfig: renderCalicoctlConfig(calicoctlDatastore(ds, confDir, CALICOCTL_KUBECONFIG)),
            podMtu: cfg.mtu,
            ...this.workloads.outputs,
            aliyunRouteTableId: this.aliyunRoutes?.routeTableId,
            aliyunRoutes: this.aliyunRoutes?.routes,
            [APPLIED_OUTPUT]: this.calicoctlApply?.applied,
        };
        this.registerOutputs(this.outputs);
    }
}
