import * as command from "@pulumi/command";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { CniBinary } from "../config/types";
import { CNI_HOST_RECORD, CNI_KUBECONFIG_FILE, CNI_UPLOAD_DIR, CONFLIST_FILE } from "../facts/names";
import { asRoot, cniInstallScript, cniUninstallScript, frameFiles } from "../builders/hostScripts";
import type { HostFile } from "../builders/etcdHost";
import { dataplaneCleanupScript } from "../builders/dataplaneCleanup";

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
    /** The staged upload of the local binaries (builders/upload.ts), once for every node; unset when none is local. */
    upload?: { dir: string; digest: string };
    /** Content of 10-calico.conflist for this node. */
    conflist: pulumi.Input<string>;
    /** CNI kubeconfig (secret), written as calico-kubeconfig with mode 0600. */
    kubeconfig: pulumi.Input<string>;
    /** Extra files for this host (e.g. etcd client TLS), each written with its mode. */
    extraFiles: HostFile<pulumi.Input<string>>[];
    /** The host checks (builders/preflight.ts), run before anything is written; their failure stops this node's install. */
    preflight: string;
    /** Run after the files are in place (e.g. NetworkManager reading its new rule); "" for nothing. */
    afterInstall: string;
}

/**
 * Everything the CNI plugin needs on one node, in two resources (children of the Cni component, with no
 * component of their own per node: at a thousand nodes every registration counts):
 * - `<node>-cni-upload` copies the staged local binaries (gzipped, each content once: builders/upload.ts)
 *   to the SSH user's home (only with local binaries);
 * - `<node>-cni-install` checks and installs the binaries, then writes the files that arrive on its stdin
 *   (kubeconfig 0600, extra files, the conflist last, since the kubelet marks the node Ready as soon as it
 *   sees it). Its delete removes every file and clears Calico's dataplane from the host.
 * The install's script is short and reads the files from stdin, so the state holds no script per file.
 */
export function cniHost(name: string, args: CniHostArgs, parent: pulumi.Resource): command.remote.Command {
    const { user, binDir, confDir, connection } = args;
    const conflistPath = `${confDir}/${CONFLIST_FILE}`;
    const kubeconfigPath = `${confDir}/${CNI_KUBECONFIG_FILE}`;

    // A folder archive lands in <remotePath>/<folder name>, with the upstream provider and the sandbox's alike.
    const staged = args.upload;
    const uploadDir = `${CNI_UPLOAD_DIR}/${staged ? path.basename(staged.dir) : ""}`;
    const upload = staged
        ? new command.remote.CopyToRemote(
              `${name}-cni-upload`,
              {
                  connection,
                  source: new pulumi.asset.FileArchive(staged.dir),
                  remotePath: CNI_UPLOAD_DIR,
                  // A new binary uploads again (the install then sees a new sha256 and re-runs). One digest
                  // of them all, not the list: the state keeps triggers twice per node.
                  triggers: [staged.digest],
              },
              { parent },
          )
        : undefined;

    const files = [
        { path: kubeconfigPath, mode: "0600", content: args.kubeconfig },
        ...args.extraFiles.map((f) => ({ path: f.path, mode: f.mode, content: f.content })),
        { path: conflistPath, mode: "0644", content: args.conflist },
    ];
    // One stream for every file; secret as a whole, since the kubeconfig holds the CNI client key.
    const stdin = pulumi.secret(
        pulumi.all(files.map((f) => f.content)).apply((contents) => frameFiles(files.map((f, i) => ({ ...f, content: contents[i]! })))),
    );
    const binaries = args.binaries.map((b) =>
        b.source === "local"
            ? { name: b.name, source: b.source, sha256: b.sha256 }
            : { name: b.name, source: b.source, sha256: b.sha256, url: b.url, archiveMember: b.archiveMember },
    );
    const written = [conflistPath, ...files.slice(0, -1).map((f) => f.path), ...binaries.map((b) => `${binDir}/${b.name}`)];
    return new command.remote.Command(
        `${name}-cni-install`,
        {
            connection,
            create: asRoot(
                [
                    args.preflight,
                    cniInstallScript({
                        binDir,
                        uploadDir,
                        binaries,
                        recordPath: CNI_HOST_RECORD,
                        ownerPath: kubeconfigPath,
                        nodeName: args.nodeName,
                    }),
                    args.afterInstall,
                ]
                    .filter((s) => s !== "")
                    .join("\n"),
                user,
            ),
            // The files first, then the dataplane: the cleanup waits for calico-node to stop on this host.
            delete: asRoot(`${cniUninstallScript(written, CNI_HOST_RECORD, CNI_UPLOAD_DIR)}\n${dataplaneCleanupScript()}`, user),
            stdin,
            // Scripts print nothing on success; keep stderr for failures, never stdout.
            logging: "stderr",
        },
        // Never create-before-delete: the old delete would remove the files the new create just wrote.
        { parent, dependsOn: upload ? [upload] : [], deleteBeforeReplace: true },
    );
}
