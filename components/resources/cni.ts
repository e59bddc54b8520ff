import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { cniClusterRole, cniClusterRoleBinding } from "../builders/cniRbac";
import { CniDatastore, renderConflist } from "../builders/conflist";
import { renderClientKubeconfig } from "../builders/kubeconfig";
import type { HostFile } from "../builders/etcdHost";
import type { CalicoConfig } from "../config/types";
import { CNI_CLUSTER, CNI_CONTEXT, CNI_KUBECONFIG_FILE, CNI_USER, CONFLIST_FILE } from "../facts/names";
import { NETWORK_MANAGER_CONF, NETWORK_MANAGER_RELOAD, networkManagerConf, preflightPlan, preflightScript } from "../builders/preflight";
import { cniHost } from "./cniHost";
import { sshConnection } from "./ssh";

export interface CniArgs {
    config: CalicoConfig;
    /** Cluster CA certificate PEM. */
    clusterCaCertPem: pulumi.Input<string>;
    /** The calico-cni client certificate and key (secret) signed by the cluster CA. */
    cniCertPem: pulumi.Input<string>;
    cniKeyPem: pulumi.Input<string>;
    /** Host files beyond the kubeconfig, e.g. the etcd client TLS files. */
    extraHostFiles: HostFile<pulumi.Input<string>>[];
    /** The datastore section of the conflist. */
    datastore: CniDatastore;
}

export const CNI_RBAC_NAME = "calico-cni-plugin";

/** The CNI plugin: its RBAC, its kubeconfig, and its files on every node. */
export class Cni extends pulumi.ComponentResource {
    /** Secret. */
    public readonly kubeconfig: pulumi.Output<string>;

    constructor(name: string, args: CniArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:Cni", name, {}, opts);
        const cfg = args.config;
        const role = new k8s.rbac.v1.ClusterRole(CNI_RBAC_NAME, cniClusterRole(CNI_RBAC_NAME), { parent: this });
        new k8s.rbac.v1.ClusterRoleBinding(CNI_RBAC_NAME, cniClusterRoleBinding(CNI_RBAC_NAME, CNI_RBAC_NAME), {
            parent: this,
            dependsOn: [role],
        });

        this.kubeconfig = pulumi.secret(
            pulumi.all([args.clusterCaCertPem, args.cniCertPem, args.cniKeyPem]).apply(([caPem, certPem, keyPem]) =>
                renderClientKubeconfig({
                    server: cfg.cluster.apiServer,
                    caPem,
                    certPem,
                    keyPem,
                    user: CNI_USER,
                    cluster: CNI_CLUSTER,
                    context: CNI_CONTEXT,
                }),
            ),
        );

        // cni.manageNetworkManager: the rule that keeps NetworkManager off Calico's interfaces, one more host file.
        const nm = cfg.cni.manageNetworkManager;
        const extraFiles = nm
            ? [
                  ...args.extraHostFiles,
                  { name: "network-manager", path: NETWORK_MANAGER_CONF, mode: "0644", content: networkManagerConf(), secret: false },
              ]
            : args.extraHostFiles;
        for (const node of cfg.nodes) {
            // Kept in no field: the SDK walks every value an Output resolves to, and from the CRDs' Output the
            // walk reaches their parents, then these fields; a field of every host made each walk cover every node.
            cniHost(
                node.name,
                {
                    nodeName: node.name,
                    connection: sshConnection(node),
                    user: node.user,
                    binDir: cfg.cni.binDir,
                    confDir: cfg.cni.confDir,
                    binaries: cfg.cniBinaries,
                    kubeconfig: this.kubeconfig,
                    conflist: renderConflist({
                        nodeName: node.name,
                        mtu: cfg.mtu,
                        logLevel: cfg.cni.logLevel,
                        kubeconfigPath: `${cfg.cni.confDir}/${CNI_KUBECONFIG_FILE}`,
                        ipam: cfg.cni.ipam,
                        ipv6: cfg.calicoNode.ipv6,
                        bandwidth: cfg.cni.bandwidth,
                        datastore: args.datastore,
                    }),
                    extraFiles,
                    preflight: preflightScript(preflightPlan(cfg, node.name)),
                    afterInstall: nm ? NETWORK_MANAGER_RELOAD : "",
                },
                this,
            );
        }
        this.registerOutputs({ kubeconfig: this.kubeconfig, conflistName: CONFLIST_FILE });
    }
}
