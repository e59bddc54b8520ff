import * as os from "os";
import * as path from "path";

/**
 * The sandbox as the e2e sees it: the same paths, nodes and addresses as sandbox/lib.sh and sandbox/env.sh
 * (overridable from the environment the same way), and the environment the Pulumi CLI, its plugins and
 * kubectl need. Importing this module points this process at the sandbox.
 */
export const REPO = path.resolve(__dirname, "../../..");
export const SANDBOX_DIR = path.join(REPO, "sandbox");
const cacheRoot = path.join(os.homedir(), ".cache", "calico-hard-way");
export const TOOLCHAIN = process.env.CALICO_HW_TOOLCHAIN ?? cacheRoot;
/** The sandbox's state root (`$S` in the scripts). */
export const S = process.env.CALICO_HW_SANDBOX ?? path.join(cacheRoot, "sandbox");
export const TOOLBIN = path.join(TOOLCHAIN, "bin");

export const NODES: readonly string[] = (process.env.SANDBOX_NODES ?? "sbx-node-1 sbx-node-2 sbx-node-3").split(/\s+/).filter(Boolean);
const NODE_NET = process.env.SANDBOX_NODE_NET ?? "172.30.0";
const NODE_NET6 = process.env.SANDBOX_NODE_NET6 ?? "fd00:172:30";
export const SSH_PORT_BASE = Number(process.env.SANDBOX_SSH_PORT_BASE ?? 2221);
export const NS = "kube-system";

function indexOf(node: string, nodes: readonly string[]): number {
    const i = nodes.indexOf(node);
    if (i < 0) throw new Error(`${node} is not a sandbox node (${nodes.join(", ")})`);
    return i;
}
/** A node's address on the sandbox bridge (netns.sh): node i at .11+i. */
export const nodeIp = (node: string, nodes: readonly string[] = NODES): string => `${NODE_NET}.${11 + indexOf(node, nodes)}`;
export const nodeIp6 = (node: string, nodes: readonly string[] = NODES): string => `${NODE_NET6}::${11 + indexOf(node, nodes)}`;
export const sshPort = (node: string, nodes: readonly string[] = NODES): number => SSH_PORT_BASE + indexOf(node, nodes);
/** A node's root: the tree its sshd is chrooted into. */
export const nodeTree = (node: string): string => path.join(S, "nodes", node);
/** Where a check keeps its logs: $S/e2e/<style>/. */
export const logRoot = (): string => path.join(S, "e2e");

/** The environment of sandbox/env.sh, for this process and every child (pulumi, kubectl, ip). */
export function sandboxEnv(): Record<string, string> {
    const home = path.join(S, "pulumi-home");
    return {
        CALICO_HW_TOOLCHAIN: TOOLCHAIN,
        CALICO_HW_SANDBOX: S,
        PATH: `${TOOLBIN}:${(process.env.PATH ?? "")
            .split(":")
            .filter((p) => p !== TOOLBIN)
            .join(":")}`,
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_HOME: process.env.PULUMI_HOME ?? home,
        PULUMI_BACKEND_URL: `file://${path.join(S, "pulumi-state")}`,
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? "calico-sandbox",
        KUBECONFIG: path.join(S, "admin.kubeconfig"),
        SSH_AUTH_SOCK: path.join(S, "ssh", "agent.sock"),
    };
}
Object.assign(process.env, sandboxEnv());
