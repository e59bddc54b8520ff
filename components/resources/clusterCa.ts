import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { asRoot, readFileScript } from "../builders/hostScripts";
import type { CalicoConfig } from "../config/types";
import { sshConnection, sshUser } from "./ssh";

export interface ClusterCa {
    certPem: pulumi.Output<string>;
    /** Secret. */
    keyPem: pulumi.Output<string>;
}

/**
 * The cluster CA that signs the CNI client cert: from config, or read over SSH from a control-plane node
 * as the hard way does. The key read that way is a secret output, kept encrypted in state and never logged.
 */
export function clusterCa(cfg: CalicoConfig, parent: pulumi.Resource): ClusterCa {
    const c = cfg.cluster;
    if (c.caFromNode === undefined) {
        return { certPem: pulumi.output(c.caCert ?? ""), keyPem: pulumi.secret(cfg.secrets.clusterCaKey ?? "") };
    }
    const node = cfg.nodes.find((n) => n.name === c.caFromNode)!;
    const connection = sshConnection(cfg, node);
    const user = sshUser(cfg, node);
    const read = (what: string, path: string, secret: boolean) =>
        new command.remote.Command(
            `${node.name}-cluster-ca-${what}`,
            { connection, create: asRoot(readFileScript(path), user), logging: "none" },
            { parent, additionalSecretOutputs: secret ? ["stdout"] : [] },
        );
    const cert = read("cert", c.caCertPath, false);
    const key = read("key", c.caKeyPath, true);
    return { certPem: cert.stdout, keyPem: pulumi.secret(key.stdout) };
}
