import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { CniBinary } from "../config/types";
import { CNI_KUBECONFIG_FILE, CONFLIST_FILE } from "../facts/names";
import { asRoot, downloadScript, installStagedScript, prepareStagingScript, removeFileScript, stagingPath } from "../builders/hostScripts";
import type { HostFile } from "../builders/etcdHost";
import { dataplaneCleanupScript } from "../builders/dataplaneCleanup";
import { RemoteFile } from "./remoteFile";

export interface CniHostArgs {
    /** Kubernetes node name; every child resource is named from it. */
    nodeName: string;
    connection: command.types.input.remote.ConnectionArgs;
    /** SSH user; non-root users install through passwordless sudo. */
    user: string;
    /** CNI binary directory (`calico:cni.binDir`). */
    binDir: string;
    /** CNI config directory (`calico:cni.confDir`). */
    confDir: string;
    binaries: CniBinary[];
    /** Content of 10-calico.conflist for this node. */
    conflist: pulumi.Input<string>;
    /** CNI kubeconfig (secret), written as calico-kubeconfig with mode 0600. */
    kubeconfig: pulumi.Input<string>;
    /** Extra files for this host (e.g. etcd client TLS), each written with its mode. */
    extraFiles: HostFile<pulumi.Input<string>>[];
}

/**
 * Everything the CNI plugin needs on one node: binaries, kubeconfig, conflist. The conflist goes last,
 * since the kubelet marks the node Ready as soon as it sees it.
 */
export class CniHost extends pulumi.ComponentResource {
    public readonly conflistPath: string;
    public readonly kubeconfigPath: string;
    /** Clears Calico's dataplane from the host when deleted; calico-node's DaemonSet depends on it. */
    public readonly dataplane: command.remote.Command;

    constructor(name: string, args: CniHostArgs, opts?: pulumi.ComponentResourceOptions) {
        // Inputs stay on the children: registered here they would show every change twice in `pulumi preview`.
        super("calico:index:CniHost", name, {}, opts);
        const { user, binDir, confDir } = args;
        this.conflistPath = `${confDir}/${CONFLIST_FILE}`;
        this.kubeconfigPath = `${confDir}/${CNI_KUBECONFIG_FILE}`;
        const connection = args.connection;

        // One directory for every upload: created once, before any copy lands in it.
        const stagingDir = args.binaries.some((b) => b.source === "local")
            ? new command.remote.Command(
                  `${name}-bin-staging-dir`,
                  { connection, create: prepareStagingScript(binDir, user), logging: "stderr" },
                  { parent: this },
              )
            : undefined;
        const installed: pulumi.Resource[] = args.binaries.map((bin) => {
            const dest = `${binDir}/${bin.name}`;
            if (bin.source === "download") {
                return new command.remote.Command(
                    `${name}-bin-${bin.name}`,
                    {
                        connection,
                        create: asRoot(downloadScript(bin.url, bin.sha256, dest, bin.archiveMember), user),
                        delete: asRoot(removeFileScript(dest), user),
                        logging: "stderr",
                    },
                    { parent: this, deleteBeforeReplace: true },
                );
            }
            const staging = stagingPath(dest, user);
            const upload = new command.remote.CopyToRemote(
                `${name}-bin-${bin.name}-upload`,
                { connection, source: new pulumi.asset.FileAsset(bin.path), remotePath: staging, triggers: [bin.sha256] },
                { parent: this, dependsOn: stagingDir ? [stagingDir] : [] },
            );
            return new command.remote.Command(
                `${name}-bin-${bin.name}`,
                {
                    connection,
                    create: asRoot(installStagedScript(staging, bin.sha256, dest), user),
                    delete: asRoot(removeFileScript(dest), user),
                    triggers: [bin.sha256, upload.id],
                    logging: "stderr",
                },
                { parent: this, dependsOn: [upload], deleteBeforeReplace: true },
            );
        });

        const kubeconfig = new RemoteFile(
            `${name}-kubeconfig`,
            { connection, user, path: this.kubeconfigPath, content: args.kubeconfig, mode: "0600", secret: true },
            { parent: this },
        );
        const extras = args.extraFiles.map(
            (f) =>
                new RemoteFile(
                    `${name}-${f.name}`,
                    { connection, user, path: f.path, content: f.content, mode: f.mode, secret: f.secret },
                    { parent: this },
                ),
        );
        new RemoteFile(
            `${name}-conflist`,
            { connection, user, path: this.conflistPath, content: args.conflist, mode: "0644" },
            { parent: this, dependsOn: [...installed, kubeconfig, ...extras] },
        );
        // Nothing to create: on delete it clears what calico-node left in the host's network. The DaemonSet
        // depends on it (not on the files, so a node that is down does not hold up a DaemonSet update),
        // so on destroy calico-node and its pods go first.
        this.dataplane = new command.remote.Command(
            `${name}-dataplane`,
            { connection, create: "true", delete: asRoot(dataplaneCleanupScript(), user), logging: "stderr" },
            { parent: this },
        );
        this.registerOutputs({ conflistPath: this.conflistPath, kubeconfigPath: this.kubeconfigPath });
    }
}
