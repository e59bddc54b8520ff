import type * as command from "@pulumi/command";
import type { ResolvedNode } from "../config/types";

/**
 * SSH connection to one node. A node that can't be reached fails after a few quick dials, naming the node
 * through its resource names, instead of hanging the whole update. Without a key the command provider
 * authenticates through the agent at SSH_AUTH_SOCK in its own environment (the shell that runs pulumi);
 * the socket path stays out of the inputs, since a new agent's path would otherwise rerun every node's
 * install, and an empty one fails the real provider's dial ("missing address").
 */
export function sshConnection(node: ResolvedNode): command.types.input.remote.ConnectionArgs {
    return {
        host: node.address,
        port: node.port,
        user: node.user,
        ...(node.sshKey !== undefined ? { privateKey: node.sshKey } : {}),
        dialErrorLimit: 3,
        perDialTimeout: 10,
    };
}
