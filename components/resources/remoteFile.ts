import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { asRoot, removeFileScript, writeFileScript } from "../builders/hostScripts";

export interface RemoteFileArgs {
    connection: command.types.input.remote.ConnectionArgs;
    /** SSH user; non-root users write through passwordless sudo. */
    user: string;
    /** Absolute path on the host. */
    path: string;
    /** File content; sent on stdin. */
    content: pulumi.Input<string>;
    /** Octal mode. */
    mode: string;
    /** Whether the content is a secret (kubeconfigs, keys). Defaults to false. */
    secret?: boolean;
}

/**
 * A file on a host, written from stdin to a temp file and renamed into place; deleted on destroy. The
 * command re-runs only when the content, path or mode changes, since those are its only inputs.
 */
export class RemoteFile extends command.remote.Command {
    constructor(name: string, args: RemoteFileArgs, opts?: pulumi.CustomResourceOptions) {
        const { user, mode } = args;
        super(
            name,
            {
                connection: args.connection,
                create: asRoot(writeFileScript(args.path, mode), user),
                delete: asRoot(removeFileScript(args.path), user),
                stdin: args.secret ? pulumi.secret(args.content) : args.content,
                // Scripts print nothing on success; keep stderr for failures, never stdout.
                logging: "stderr",
            },
            { ...opts, deleteBeforeReplace: true },
        );
    }
}
