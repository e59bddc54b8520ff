import * as command from "@pulumi/command";
import type { CalicoConfig } from "../config/types";
import type { NodeConfig } from "../config/schema";

/**
 * SSH connection to one node. A node that can't be reached fails after a few quick dials, naming the node
 * through its resource names, instead of hanging the whole update.
 */
export function sshConnection(cfg: CalicoConfig, node: NodeConfig): command.types.input.remote.ConnectionArgs {
    const key = cfg.secrets.sshKeys[node.name];
    return {
        host: node.address,
        port: node.port ?? cfg.ssh.port,
        user: node.user ?? cfg.ssh.user,
        ...(key !== undefined ? { privateKey: key } : { agentSocketPath: process.env.SSH_AUTH_SOCK ?? "" }),
        dialErrorLimit: 3,
        perDialTimeout: 10,
    };
}

export function sshUser(cfg: CalicoConfig, node: NodeConfig): string {
    return node.user ?? cfg.ssh.user;
}
