import type * as command from "@pulumi/command";
import type { ResolvedNode } from "../config/types";

/**
 * SSH connection to one node. A node that can't be reached fails after a few quick dials, naming the node
 * through its resource names, instead of hanging the whole update.
 */
export function sshConnection(node: ResolvedNode): command.types.input.remote.ConnectionArgs {
    return {
        host: node.address,
        port: node.port,
        user: node.user,
        ...(node.sshKey !== undefined ? { privateKey: node.sshKey } : { agentSocketPath: process.env.SSH_AUTH_SOCK ?? "" }),
        dialErrorLimit: 3,
        perDialTimeout: 10,
    };
}
