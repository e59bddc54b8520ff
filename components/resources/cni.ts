import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { cniClusterRole, cniClusterRoleBinding, cniServiceAccount } from "../builders/cniRbac";
import { CniDatastore, type ConflistOptions, renderConflist } from "../builders/conflist";
import { type InstallCniParams, conflistTemplate } from "../builders/installCni";
import { clientKubeconfigHead, clientKubeconfigParts } from "../builders/kubeconfig";
import type { HostFile } from "../builders/etcdHost";
import type { CalicoConfig } from "../config/types";
import { CNI_CLUSTER, CNI_CONTEXT, CNI_USER, CONFLIST_FILE, cniKubeconfigPath } from "../facts/names";
import type { IssuedCert } from "./pki";
import {
    NETWORK_MANAGER_CONF,
    NETWORK_MANAGER_RELOAD,
    networkManagerConf,
    preflightChecksPlan,
    preflightPlan,
} from "../builders/preflight";
import { hostBundle } from "../builders/hostBundle";
import { cniHost } from "./cniHost";
import { mapInput } from "./inputs";
import { sha256, uploadPlan } from "../builders/upload";
import type { StageUpload, StagedUpload } from "./uploadStage";
import { sshConnection } from "./ssh";

export interface CniArgs {
    config: CalicoConfig;
    /** `cni.delivery: ssh`: the cluster CA certificate PEM and the calico-cni client certificate it signed. */
    x509?: { clusterCaCertPem: pulumi.Input<string>; cert: IssuedCert };
    /** Host files beyond the kubeconfig, e.g. the etcd client TLS files (SSH delivery; install-cni copies them itself). */
    extraHostFiles: HostFile<pulumi.Input<string>>[];
    /** The datastore section of the conflist. */
    datastore: CniDatastore;
    /** Stages the local binaries' upload on this machine (resources/uploadStage.ts; tests stage nothing). */
    stageUpload: StageUpload;
}

export const CNI_RBAC_NAME = "calico-cni-plugin";

/**
 * The CNI plugin: its RBAC, and its files on every node. With `cni.delivery: ssh` the program writes them
 * (x509 kubeconfig from the calico-cni certificate); with `daemonset` it registers only the
 * calico-cni-plugin ServiceAccount and hands calico-node the install-cni settings, so nothing here
 * grows with the node count.
 */
export class Cni extends pulumi.ComponentResource {
    /** Secret; only with SSH delivery (install-cni writes a token kubeconfig on each host). */
    public readonly kubeconfig?: pulumi.Output<string>;
    /** Only with `cni.delivery: daemonset`: the init container calico-node runs. */
    public readonly installCni?: InstallCniParams;

    constructor(name: string, args: CniArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico).
        super("calico:index:Cni", name, {}, opts);
        const cfg = args.config;
        const daemonset = cfg.cni.delivery === "daemonset";
        const role = new k8s.rbac.v1.ClusterRole(CNI_RBAC_NAME, cniClusterRole(CNI_RBAC_NAME), { parent: this });
        const sa = daemonset
            ? new k8s.core.v1.ServiceAccount(CNI_RBAC_NAME, cniServiceAccount(CNI_RBAC_NAME), { parent: this })
            : undefined;
        new k8s.rbac.v1.ClusterRoleBinding(
            CNI_RBAC_NAME,
            cniClusterRoleBinding(CNI_RBAC_NAME, CNI_RBAC_NAME, daemonset ? "serviceAccount" : "user"),
            {
                parent: this,
                dependsOn: sa ? [role, sa] : [role],
            },
        );

        const conflist: Omit<ConflistOptions, "nodeName"> = {
            mtu: cfg.mtu,
            logLevel: cfg.cni.logLevel,
            kubeconfigPath: cniKubeconfigPath(cfg.cni.confDir),
            ipam: cfg.cni.ipam,
            ipv6: cfg.calicoNode.ipv6,
            bandwidth: cfg.cni.bandwidth,
            datastore: args.datastore,
        };
        if (daemonset) {
            this.installCni = {
                image: cfg.images.cni,
                binDir: cfg.cni.binDir,
                confDir: cfg.cni.confDir,
                conflistTemplate: conflistTemplate(conflist),
                binaries: cfg.cniPlugins,
                etcd: cfg.datastore.type === "etcd",
            };
            this.registerOutputs({ conflistName: CONFLIST_FILE });
            return;
        }

        const x509 = args.x509;
        if (!x509) throw new Error("Cni: SSH delivery writes an x509 kubeconfig and needs the calico-cni certificate");
        const names = { server: cfg.cluster.apiServer, user: CNI_USER, cluster: CNI_CLUSTER, context: CNI_CONTEXT };
        const parts = pulumi
            .all([x509.clusterCaCertPem, x509.cert.certPem, x509.cert.keyPem])
            .apply(([caPem, certPem, keyPem]) => clientKubeconfigParts({ ...names, caPem, certPem, keyPem }));
        const kubeconfig = pulumi.secret(parts.apply((p) => p.head + p.rest));
        this.kubeconfig = kubeconfig;
        // The head (server, cluster CA) goes in the upload, the same for every node; only the rest (the client
        // certificate and key) on each node's stdin. From the CA alone, so the upload waits for no certificate.
        const head = mapInput(x509.clusterCaCertPem, (caPem) => clientKubeconfigHead({ ...names, caPem }));
        const rest = pulumi.secret(parts.apply((p) => p.rest));

        // cni.manageNetworkManager: the rule that keeps NetworkManager off Calico's interfaces, one more host file.
        const nm = cfg.cni.manageNetworkManager;
        const extraFiles = nm
            ? [
                  ...args.extraHostFiles,
                  { name: "network-manager", path: NETWORK_MANAGER_CONF, mode: "0644", content: networkManagerConf(), secret: false },
              ]
            : args.extraHostFiles;
        // Staged once for every node; only when a node will receive it.
        const upload = cfg.nodes.length > 0 ? mapInput(head, (h) => stagedUpload(cfg, extraFiles, nm, args.stageUpload, h)) : undefined;
        const kubeconfigFile = { head: mapInput(head, sha256), rest };
        for (const node of upload ? cfg.nodes : []) {
            // Kept in no field: the SDK walks every value an Output resolves to, and from the CRDs' Output the
            // walk reaches their parents, then these fields; a field of every host made each walk cover every node.
            cniHost(
                node.name,
                {
                    connection: sshConnection(node),
                    user: node.user,
                    confDir: cfg.cni.confDir,
                    upload: upload!,
                    kubeconfig: kubeconfigFile,
                    conflist: renderConflist({ ...conflist, nodeName: node.name }),
                    extraFiles,
                    preflight: preflightPlan(cfg, node.name),
                },
                this,
            );
        }
        this.registerOutputs({ kubeconfig, conflistName: CONFLIST_FILE });
    }
}

/** The upload every node gets, staged on this machine: the scripts for this config, the kubeconfig's head and the local binaries. */
function stagedUpload(
    cfg: CalicoConfig,
    extraFiles: HostFile<unknown>[],
    networkManager: boolean,
    stage: StageUpload,
    kubeconfigHead: string,
): StagedUpload {
    const scripts = hostBundle({
        binDir: cfg.cni.binDir,
        confDir: cfg.cni.confDir,
        binaries: cfg.cniBinaries,
        extraPaths: extraFiles.map((f) => f.path),
        preflight: preflightChecksPlan(cfg),
        afterInstall: networkManager ? NETWORK_MANAGER_RELOAD : "",
    });
    const plan = uploadPlan(cfg.cniBinaries, scripts, [kubeconfigHead]);
    return { dir: stage(plan), digest: plan.digest };
}
