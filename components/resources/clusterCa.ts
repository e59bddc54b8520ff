import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { asRoot, readFileScript } from "../builders/hostScripts";
import type { ClusterCaSource } from "../config/types";
import { sshConnection } from "./ssh";

export interface ClusterCa {
    /** Plain when it comes from config, so what derives from it (the staged upload) needs no Output. */
    certPem: pulumi.Input<string>;
    /** Secret. */
    keyPem: pulumi.Output<string>;
}

/**
 * The cluster CA that signs the CNI client cert: from config, or read over SSH from a control-plane node
 * as the hard way does. The key read that way is a secret output, kept encrypted in state and never logged.
 */
export function clusterCa(source: ClusterCaSource, parent: pulumi.Resource): ClusterCa {
    if (source.from === "config") return { certPem: source.certPem, keyPem: pulumi.secret(source.keyPem) };
    const node = source.node;
    const connection = sshConnection(node);
    const read = (what: string, path: string, secret: boolean) =>
        new command.remote.Command(
            `${node.name}-cluster-ca-${what}`,
            // addPreviousOutputInEnv off: on an update the provider would send the last stdout, the CA key, as an SSH env request.
            { connection, create: asRoot(readFileScript(path), node.user), logging: "none", addPreviousOutputInEnv: false },
            { parent, additionalSecretOutputs: secret ? ["stdout"] : [] },
        );
    const cert = read("cert", source.certPath, false);
    const key = read("key", source.keyPath, true);
    return { certPem: cert.stdout, keyPem: pulumi.secret(key.stdout) };
}
