import * as command from "@pulumi/command";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { CNI_UPLOAD_DIR, cniKubeconfigPath, conflistPath } from "../facts/names";
import { asRoot, frameFiles } from "../builders/hostScripts";
import { hostDeleteCommand, hostInstallCommand } from "../builders/hostBundle";
import type { HostFile } from "../builders/etcdHost";
import type { PreflightPlan } from "../builders/preflight";
import type { StagedUpload } from "./uploadStage";
import { mapInput } from "./inputs";

export interface CniHostArgs {
    connection: command.types.input.remote.ConnectionArgs;
    /** SSH user; non-root users install through passwordless sudo. */
    user: string;
    /** CNI config directory (`calico:cni.confDir`). */
    confDir: string;
    /**
     * The staged upload (builders/upload.ts): the scripts every node runs, the kubeconfig's head and the local
     * binaries, once for every node. Known once the cluster CA is (it may be read from a node).
     */
    upload: pulumi.Input<StagedUpload>;
    /** Content of 10-calico.conflist for this node. */
    conflist: pulumi.Input<string>;
    /**
     * The CNI kubeconfig, written as calico-kubeconfig with mode 0600: the sha256 of its head (public, in the
     * upload) and the rest (secret, on stdin); see clientKubeconfigParts.
     */
    kubeconfig: { head: pulumi.Input<string>; rest: pulumi.Input<string> };
    /** Extra files for this host (e.g. etcd client TLS), each written with its mode. */
    extraFiles: HostFile<pulumi.Input<string>>[];
    /** This node's host checks (builders/preflight.ts): its name and peers go to the staged install as arguments. */
    preflight: PreflightPlan;
}

/**
 * Everything the CNI plugin needs on one node, in two resources (children of the Cni component, with no
 * component of their own per node: at a thousand nodes every registration counts):
 * - `<node>-cni-upload` copies the staged upload to the SSH user's home: the install and uninstall
 *   scripts (builders/hostBundle.ts) and the local binaries (gzipped, each content once: builders/upload.ts);
 * - `<node>-cni-install` runs the staged install with the node's name: host checks, then the binaries
 *   checked and installed, then the files that arrive on its stdin (kubeconfig 0600, its public head from
 *   the upload; extra files; the conflist last, since the kubelet marks the node Ready as soon as it sees
 *   it). Its delete runs the uninstall the install left on the host: every file, then Calico's dataplane.
 * Both commands are a few lines; the scripts and the cluster CA are in the upload, so the state holds
 * neither per node.
 */
export function cniHost(name: string, args: CniHostArgs, parent: pulumi.Resource): command.remote.Command {
    const { user, confDir, connection, upload } = args;
    // A folder archive lands in <remotePath>/<folder name>, with the upstream provider and the sandbox's alike.
    const uploadDir = mapInput(upload, (u) => `${CNI_UPLOAD_DIR}/${path.basename(u.dir)}`);
    const copy = new command.remote.CopyToRemote(
        `${name}-cni-upload`,
        {
            connection,
            source: mapInput(upload, (u) => new pulumi.asset.FileArchive(u.dir)),
            remotePath: CNI_UPLOAD_DIR,
            // A new script, head or binary uploads again (and the install's command names the new folder). One
            // digest of them all, not the list: the state keeps triggers twice per node.
            triggers: [mapInput(upload, (u) => u.digest)],
        },
        { parent },
    );

    const files: { path: string; mode: string; content: pulumi.Input<string>; head?: pulumi.Input<string> }[] = [
        { path: cniKubeconfigPath(confDir), mode: "0600", content: args.kubeconfig.rest, head: args.kubeconfig.head },
        ...args.extraFiles.map((f) => ({ path: f.path, mode: f.mode, content: f.content })),
        { path: conflistPath(confDir), mode: "0644", content: args.conflist },
    ];
    // One stream for every file; secret as a whole, since the kubeconfig's rest holds the CNI client key.
    // One flat pulumi.all (content, head, content, head...): an Output per file was a cost at a thousand nodes.
    const stdin = pulumi.secret(
        pulumi
            .all(files.flatMap((f) => [f.content, f.head]))
            .apply((v) => frameFiles(files.map((f, i) => ({ path: f.path, mode: f.mode, content: v[2 * i]!, head: v[2 * i + 1] })))),
    );
    return new command.remote.Command(
        `${name}-cni-install`,
        {
            connection,
            create: mapInput(uploadDir, (dir) => asRoot(hostInstallCommand(dir, args.preflight), user)),
            delete: asRoot(hostDeleteCommand(), user),
            stdin,
            // Scripts print nothing on success; keep stderr for failures, never stdout.
            logging: "stderr",
            // No script reads PULUMI_COMMAND_STDOUT/STDERR; sshd's default AcceptEnv would refuse them with a warning.
            addPreviousOutputInEnv: false,
        },
        // Never create-before-delete: the old delete would remove the files the new create just wrote.
        { parent, dependsOn: [copy], deleteBeforeReplace: true },
    );
}
