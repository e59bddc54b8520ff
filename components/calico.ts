import * as pulumi from "@pulumi/pulumi";
import { routedNodes } from "./builders/aliyunRoutes";
import { bgpSettings, routeReflectors } from "./builders/bgp";
import { renderCalicoctlConfig } from "./builders/calicoctl";
import { APPLIED_OUTPUT } from "./builders/calicoctlApply";
import { calicoctlDatastore, cniEtcdDatastore, etcdHostFiles } from "./builders/etcdHost";
import { poolSummary } from "./builders/ippool";
import type { CalicoConfig } from "./config/types";
import { after } from "./resources/after";
import { AliyunRoutes } from "./resources/aliyunRoutes";
import { Bgp } from "./resources/bgp";
import { CalicoctlApply, previousApplied } from "./resources/calicoctlApply";
import { Cni } from "./resources/cni";
import { clusterCa } from "./resources/clusterCa";
import { Datastore } from "./resources/datastore";
import { IpPools } from "./resources/ipPools";
import { CalicoPki } from "./resources/pki";
import { Spiderpool } from "./resources/spiderpool";
import { Workloads, calicoWorkloads } from "./resources/workloads";

/** kubeadm's admin kubeconfig on a control-plane node, where calicoctl usually runs. */
export const CALICOCTL_KUBECONFIG = "/etc/kubernetes/admin.conf";

export interface CalicoArgs {
    /** Validated config (see components/config/load.ts). */
    config: CalicoConfig;
}

/**
 * The whole installation, in the hard way's order: certificates, datastore (CRDs), IP pools, the CNI
 * plugin on every host, then the workloads. Build it with `new Calico("calico", { config })`.
 */
export class Calico extends pulumi.ComponentResource {
    public readonly pki: CalicoPki;
    public readonly datastore?: Datastore;
    /** IPPool custom resources; on the Kubernetes datastore only (with etcd they are in calicoctlApply). */
    public readonly ipPools?: IpPools;
    public readonly cni: Cni;
    /** BGP topology and Felix knobs as custom resources; on the Kubernetes datastore only. */
    public readonly bgp?: Bgp;
    /** With etcd: pools, BGP and Felix settings applied to etcd by a calicoctl Job. */
    public readonly calicoctlApply?: CalicoctlApply;
    /** Per-node SpiderIPPools; set when cni.ipam is spiderpool. */
    public readonly spiderpool?: Spiderpool;
    /** Typha, calico/node and kube-controllers. */
    public readonly workloads: Workloads;
    /** VPC route entries for non-tunnel mode on Alibaba Cloud; set when aliyun.enabled. */
    public readonly aliyunRoutes?: AliyunRoutes;
    /** Outputs the stack exports. */
    public readonly outputs: Record<string, pulumi.Input<unknown>>;

    constructor(name: string, args: CalicoArgs, opts?: pulumi.ComponentResourceOptions) {
        // The config is not registered as component inputs: it would only duplicate the children's inputs in state.
        super("calico:index:Calico", name, {}, opts);
        const cfg = args.config;
        const ca = clusterCa(cfg, this);
        this.pki = new CalicoPki(
            "pki",
            {
                clusterCaCertPem: ca.certPem,
                clusterCaKeyPem: ca.keyPem,
                rsaBits: cfg.pki.rsaBits,
                validityHours: cfg.pki.validityHours,
                earlyRenewalHours: cfg.pki.earlyRenewalHours,
            },
            { parent: this },
        );
        const kdd = cfg.datastore.type === "kubernetes";
        const bgp = bgpSettings(cfg);

        // Kubernetes datastore: CRDs first; pools and BGP settings are custom resources that wait for them.
        // etcd datastore: no CRDs; pools and BGP settings reach etcd through a calicoctl Job instead.
        if (kdd) {
            this.datastore = new Datastore(
                "datastore",
                { calicoVersion: cfg.calicoVersion, crdsFile: cfg.datastore.crdsFile },
                { parent: this },
            );
        }
        const afterCrds: pulumi.Input<pulumi.Resource[]> = this.datastore ? this.datastore.crdResources : [];
        if (kdd) {
            this.ipPools = new IpPools("ip-pools", { pools: cfg.pools }, { parent: this, ...after(afterCrds) });
            this.bgp = new Bgp("bgp", { ...bgp, routeReflectors: routeReflectors(cfg.nodes) }, { parent: this, ...after(afterCrds) });
        }

        // With etcd the CNI plugin reaches etcd itself, through client files written next to its config.
        const etcd = cfg.datastore.type === "etcd" ? cfg.secrets.etcd : undefined;
        this.cni = new Cni(
            "cni",
            {
                config: cfg,
                clusterCaCertPem: ca.certPem,
                cniCertPem: this.pki.cniCertPem,
                cniKeyPem: this.pki.cniKeyPem,
                datastore: etcd ? cniEtcdDatastore(cfg.cni.confDir, cfg.datastore.etcdEndpoints) : undefined,
                extraHostFiles: etcd ? etcdHostFiles(cfg.cni.confDir, etcd) : undefined,
            },
            { parent: this },
        );
        if (cfg.cni.ipam === "spiderpool") {
            const nodes = cfg.nodes.flatMap((n) => (n.podCidr !== undefined ? [{ name: n.name, podCidr: n.podCidr }] : []));
            this.spiderpool = new Spiderpool("spiderpool", { nodes, clusterPodCidr: cfg.cluster.podCidr }, { parent: this });
        }
        if (cfg.aliyun.enabled) {
            const a = cfg.aliyun;
            this.aliyunRoutes = new AliyunRoutes(
                "aliyun-routes",
                {
                    region: a.region ?? "",
                    nodes: routedNodes(cfg.nodes),
                    routeTableId: a.routeTableId,
                    vpcId: a.vpcId,
                    accessKey: cfg.secrets.alicloud?.accessKey,
                    secretKey: cfg.secrets.alicloud?.secretKey,
                },
                { parent: this },
            );
        }

        // calico-node starts once its pools exist, or it would create Calico's default pool. With etcd the
        // Job that writes them needs calico-node's etcd Secret, so that wait is resolved once the Job exists.
        let poolsApplied: (r: pulumi.Resource) => void = () => undefined;
        const pools: pulumi.Input<pulumi.Resource> | undefined =
            this.ipPools ?? new Promise<pulumi.Resource>((resolve) => (poolsApplied = resolve));
        this.workloads = calicoWorkloads(this, cfg, this.pki, {
            crds: afterCrds,
            cni: [this.cni],
            hostCleanups: this.cni.dataplanes,
            calicoNodeWaitsFor: pools,
        });
        if (!kdd) {
            this.calicoctlApply = new CalicoctlApply(
                "calicoctl-apply",
                {
                    ...bgp,
                    image: cfg.images.ctl,
                    pools: cfg.pools,
                    previous: previousApplied(this),
                    etcdObjects: this.workloads.calicoNode.etcdObjects,
                },
                { parent: this },
            );
            poolsApplied(this.calicoctlApply);
        }
        const aliyunOutputs = this.aliyunRoutes
            ? { aliyunRouteTableId: this.aliyunRoutes.routeTableId, aliyunRoutes: this.aliyunRoutes.routes }
            : {};
        const etcdOutputs = this.calicoctlApply ? { [APPLIED_OUTPUT]: this.calicoctlApply.applied } : {};

        this.outputs = {
            calicoVersion: cfg.calicoVersion,
            pools: cfg.pools.map(poolSummary),
            nodes: cfg.nodes.map((n) => ({ name: n.name, address: n.address })),
            cniKubeconfig: this.cni.kubeconfig,
            calicoctlConfig: renderCalicoctlConfig(calicoctlDatastore(cfg.datastore, cfg.cni.confDir, CALICOCTL_KUBECONFIG)),
            podMtu: cfg.mtu,
            ...this.workloads.outputs,
            ...aliyunOutputs,
            ...etcdOutputs,
        };
        this.registerOutputs(this.outputs);
    }
}
