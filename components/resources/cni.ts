import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { cniClusterRole, cniClusterRoleBinding, cniServiceAccount } from "../builders/cniRbac";
import { CniDatastore, type ConflistOptions, renderConflist } from "../builders/conflist";
import { type InstallCniParams, conflistTemplate } from "../builders/installCni";
import { clientKubeconfigHead, clientKubeconfigParts } from "../builders/kubeconfig";
import type { HostFile } from "../builders/etcdHost";
import type { CalicoConfig, CniBinary, ResolvedNode } from "../config/types";
import { CNI_CLUSTER, CNI_CONTEXT, CNI_USER, CONFLIST_FILE, cniKubeconfigPath } from "../facts/names";
import type { IssuedCert } from "./pki";
import {
    NETWORK_MANAGER_CONF,
    NETWORK_MANAGER_RELOAD,
    type PreflightChecks,
    type PreflightPlan,
    networkManagerConf,
} from "../builders/preflight";
import { hostBundle } from "../builders/hostBundle";
import { cniHost } from "./cniHost";
import { mapInput } from "./inputs";
import { sha256, uploadPlan } from "../builders/upload";
import type { StageUpload, StagedUpload } from "./uploadStage";
import { sshConnection } from "./ssh";

/** What the CNI plugin's objects and host files are built from, and no more of the config. */
export interface CniArgs {
    /** `calico:cni` as resolved: delivery, directories, IPAM, log level, bandwidth, the NetworkManager rule. */
    cni: Pick<CalicoConfig["cni"], "delivery" | "confDir" | "binDir" | "logLevel" | "ipam" | "bandwidth" | "manageNetworkManager">;
    /** Pod MTU, written in the conflist. */
    mtu: number;
    /** Dual-stack: the conflist asks IPAM for an IPv6 address too. */
    ipv6: boolean;
    /** The API server the CNI kubeconfig names (SSH delivery). */
    apiServer: string;
    /** The calico/cni image install-cni runs from (daemonset delivery). */
    image: string;
    /** The plugins the conflist calls. */
    plugins: string[];
    /** The binaries every node's bin dir gets (SSH delivery). */
    binaries: CniBinary[];
    /** The nodes the files go to over SSH, each with its preflight (SSH delivery). */
    nodes: { node: ResolvedNode; preflight: PreflightPlan }[];
    /** The checks every node runs alike, in the staged install script. */
    preflight: PreflightChecks;
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
        const cni = args.cni;
        const daemonset = cni.delivery === "daemonset";
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
            mtu: args.mtu,
            logLevel: cni.logLevel,
            kubeconfigPath: cniKubeconfigPath(cni.confDir),
            ipam: cni.ipam,
            ipv6: args.ipv6,
            bandwidth: cni.bandwidth,
            datastore: args.datastore,
        };
        if (daemonset) {
            this.installCni = {
                image: args.image,
                binDir: cni.binDir,
                confDir: cni.confDir,
                conflistTemplate: conflistTemplate(conflist),
                binaries: args.plugins,
                etcd: args.datastore.type === "etcd",
            };
            this.registerOutputs({ conflistName: CONFLIST_FILE });
            return;
        }

        const x509 = args.x509;
        if (!x509) throw new Error("Cni: SSH delivery writes an x509 kubeconfig and needs the calico-cni certificate");
        const names = { server: args.apiServer, user: CNI_USER, cluster: CNI_CLUSTER, context: CNI_CONTEXT };
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
        const nm = cni.manageNetworkManager;
        const extraFiles = nm
            ? [
                  ...args.extraHostFiles,
                  { name: "network-manager", path: NETWORK_MANAGER_CONF, mode: "0644", content: networkManagerConf(), secret: false },
              ]
            : args.extraHostFiles;
        // Staged once for every node; only when a node will receive it.
        const upload = args.nodes.length > 0 ? mapInput(head, (h) => stagedUpload(args, extraFiles, nm, h)) : undefined;
        const kubeconfigFile = { head: mapInput(head, sha256), rest };
        for (const { node, preflight } of upload ? args.nodes : []) {
            // Kept in no field: the SDK walks every value an Output resolves to, and from the CRDs' Output the
            // walk reaches their parents, then these fields; a field of every host made each walk cover every node.
            cniHost(
                node.name,
                {
                    connection: sshConnection(node),
                    user: node.user,
                    confDir: cni.confDir,
                    upload: upload!,
                    kubeconfig: kubeconfigFile,
                    conflist: renderConflist({ ...conflist, nodeName: node.name }),
                    extraFiles,
                    preflight,
                },
                this,
            );
        }
        this.registerOutputs({ kubeconfig, conflistName: CONFLIST_FILE });
    }
}

/** The upload every node gets, staged on this machine: the scripts for this config, the kubeconfig's head and the local binaries. */
function stagedUpload(args: CniArgs, extraFiles: HostFile<unknown>[], networkManager: boolean, kubeconfigHead: string): StagedUpload {
    const scripts = hostBundle({
        binDir: args.cni.binDir,
        confDir: args.cni.confDir,
        binaries: args.binaries,
        extraPaths: extraFiles.map((f) => f.path),
        preflight: args.preflight,
        afterInstall: networkManager ? NETWORK_MANAGER_RELOAD : "",
    });
    const plan = uploadPlan(args.binaries, scripts, [kubeconfigHead]);
    return { dir: args.stageUpload(plan), digest: plan.digest };
}
