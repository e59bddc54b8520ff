import * as pulumi from "@pulumi/pulumi";
import { renderCalicoctlConfig } from "./builders/calicoctl";
import { poolSummary } from "./builders/ippool";
import type { CalicoConfig } from "./config/types";
import { Cni } from "./resources/cni";
import { clusterCa } from "./resources/clusterCa";
import { Datastore } from "./resources/datastore";
import { IpPools } from "./resources/ipPools";
import { CalicoPki } from "./resources/pki";
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
    public readonly ipPools: IpPools;
    public readonly cni: Cni;
    /** Typha, calico/node and kube-controllers. */
    public readonly workloads: Workloads;
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
        if (kdd) {
            this.datastore = new Datastore("datastore", { calicoVersion: cfg.calicoVersion, crdsFile: cfg.datastore.crdsFile }, { parent: this });
        }
        /** Calico custom resources and workloads wait for the CRDs. */
        const afterCrds: pulumi.Resource[] = this.datastore ? [this.datastore] : [];

        this.ipPools = new IpPools("ip-pools", { pools: cfg.pools }, { parent: this, dependsOn: afterCrds });
        this.cni = new Cni(
            "cni",
            { config: cfg, clusterCaCertPem: ca.certPem, cniCertPem: this.pki.cniCertPem, cniKeyPem: this.pki.cniKeyPem },
            { parent: this },
        );

        // --- Workloads (issue 3): Typha, calico/node, kube-controllers, after the CRDs and the CNI hosts. ---
        this.workloads = calicoWorkloads(this, cfg, this.pki, { crds: afterCrds, cni: [this.cni] });
        // --- end workloads ---

        this.outputs = {
            calicoVersion: cfg.calicoVersion,
            pools: cfg.pools.map(poolSummary),
            nodes: cfg.nodes.map((n) => ({ name: n.name, address: n.address })),
            cniKubeconfig: this.cni.kubeconfig,
            calicoctlConfig: renderCalicoctlConfig({ type: "kubernetes", kubeconfigPath: CALICOCTL_KUBECONFIG }),
            podMtu: cfg.mtu,
            ...this.workloads.outputs,
        };
        this.registerOutputs(this.outputs);
    }
}
