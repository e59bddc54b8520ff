import { CNI_HOST_RECORD } from "../../../components/facts/names";
import * as k8s from "@kubernetes/client-node";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { NODES, NS, nodeTree, S, sshPort, TOOLCHAIN } from "../lib/env";
import { calicoLeftovers } from "../lib/host";
import { Kube, PT_NS } from "../lib/kube";
import { run, sandboxScript, waitFor } from "../lib/proc";
import type { StackConfig } from "../lib/stack";
import type { Check, Ctx } from "../lib/types";
import { changesText, destroyCheck, pingEveryPair } from "./common";

/**
 * `cni.delivery: daemonset` end to end, on real Calico: the stack starts in the SSH mode (the committed
 * config), switches to daemonset, a fourth node that no stack config names joins the sandbox and leaves
 * again, then back to SSH, and destroy. After each step: the host files on every node (paths, modes,
 * sha256 of the conflist, which must not change across the switches), who the CNI kubeconfig authenticates
 * as, what that identity may do, and that new pods on different nodes ping each other.
 *
 * ctx.shared: "conflistSha" (Map node -> first 12 hex of the conflist's sha256, across the switches),
 * "extraNodeUp" (true once up.sh added the fourth node), "pods" (from pingEveryPair).
 */

export const EXTRA_NODE = process.env.E2E_EXTRA_NODE ?? "sbx-node-4";
const SA = "calico-cni-plugin";
const SA_USER = `system:serviceaccount:${NS}:${SA}`;
/** What the SSH install delivers. */
const SSH_BINARIES = ["calico", "calico-ipam", "portmap", "loopback", "host-local"];
/** What install-cni writes from the calico/cni image: the plugins the conflist calls, not flannel or tuning. */
const DS_BINARIES = ["calico", "calico-ipam", "host-local", "loopback", "portmap"];
const CNI_IMAGE_BIN = path.join(TOOLCHAIN, "images", "cni", "opt", "cni", "bin");

/** To daemonset: no SSH-side binaries or cluster CA (the config rules refuse them), Typha sized by hand. */
const toDaemonset = (c: StackConfig): void => {
    c.delete("cni", "localBinDir");
    c.set("cni", "delivery", "daemonset");
    c.delete("cluster", "caFromNode");
    c.set("typha", { replicas: 2 });
};

type Mode = "ssh" | "daemonset";
const sha256 = (file: string): string => createHash("sha256").update(fs.readFileSync(file)).digest("hex");
const modeOf = (file: string): string => (fs.statSync(file).mode & 0o777).toString(8);
function executable(file: string): boolean {
    try {
        return fs.statSync(file).isFile() && (fs.statSync(file).mode & 0o111) !== 0;
    } catch {
        return false;
    }
}

/** The problem with a node's CNI files for `mode`, or undefined when they are right. */
function filesProblem(n: string, mode: Mode): string | undefined {
    const t = nodeTree(n);
    const conflist = path.join(t, "etc/cni/net.d/10-calico.conflist");
    if (!fs.existsSync(conflist)) return `${n}: no 10-calico.conflist`;
    let nodename: unknown;
    try {
        nodename = (JSON.parse(fs.readFileSync(conflist, "utf8")) as { plugins?: { nodename?: unknown }[] }).plugins?.[0]?.nodename;
    } catch (e) {
        return `${n}: conflist is not JSON: ${(e as Error).message}`;
    }
    if (nodename !== n) return `${n}: conflist nodename ${JSON.stringify(nodename ?? null)}`;
    const wantMode = mode === "ssh" ? "644" : "600";
    if (modeOf(conflist) !== wantMode) return `${n}: conflist mode ${modeOf(conflist)}, want ${wantMode}`;
    const kubeconfig = path.join(t, "etc/cni/net.d/calico-kubeconfig");
    if (!fs.existsSync(kubeconfig) || modeOf(kubeconfig) !== "600") return `${n}: calico-kubeconfig missing or not 0600`;
    const kc = fs.readFileSync(kubeconfig, "utf8");
    const record = path.join(t, CNI_HOST_RECORD);
    const bin = (b: string) => path.join(t, "opt/cni/bin", b);
    if (mode === "ssh") {
        if (!kc.includes("client-certificate-data")) return `${n}: kubeconfig has no client certificate`;
        if (!fs.existsSync(record) || fs.statSync(record).size === 0) return `${n}: no host record of the SSH install`;
    } else {
        if (!/^ {4}token: /m.test(kc)) return `${n}: kubeconfig has no token`;
        if (fs.existsSync(record)) return `${n}: the SSH install's record is still there`;
        for (const b of ["flannel", "tuning", "install"]) if (fs.existsSync(bin(b))) return `${n}: /opt/cni/bin/${b} installed`;
    }
    for (const b of mode === "ssh" ? SSH_BINARIES : DS_BINARIES) if (!executable(bin(b))) return `${n}: /opt/cni/bin/${b} missing`;
    if (mode === "daemonset") {
        for (const b of ["calico", "calico-ipam"])
            if (sha256(bin(b)) !== sha256(path.join(CNI_IMAGE_BIN, b))) return `${n}: /opt/cni/bin/${b} is not the image's`;
    }
    return undefined;
}

/** The files on every node of `nodes`, the identity of their kubeconfig, and their conflists unchanged since the last look. */
function filesCheck(name: string, title: string, mode: Mode, nodes?: readonly string[]): Check {
    return {
        name,
        title,
        run: async (ctx) => {
            const on = nodes ?? ctx.nodes;
            if (on.includes(EXTRA_NODE) && !ctx.shared.get("extraNodeUp")) throw new Error(`${EXTRA_NODE} was not added`);
            const want = mode === "ssh" ? "calico-cni" : SA_USER;
            const shas = (ctx.shared.get("conflistSha") as Map<string, string> | undefined) ?? new Map<string, string>();
            ctx.shared.set("conflistSha", shas);
            const bad: string[] = [];
            const now: string[] = [];
            for (const n of on) {
                const problem = filesProblem(n, mode);
                if (problem) {
                    bad.push(problem);
                    continue;
                }
                const kubeconfig = path.join(nodeTree(n), "etc/cni/net.d/calico-kubeconfig");
                const who = await new Kube(kubeconfig).whoami().catch((e: Error) => e.message);
                if (who !== want) bad.push(`${n}: kubeconfig authenticates as '${who}', want ${want}`);
                const s = sha256(path.join(nodeTree(n), "etc/cni/net.d/10-calico.conflist")).slice(0, 12);
                const before = shas.get(n);
                if (before !== undefined && before !== s) bad.push(`${n}: conflist sha256 ${before} before, ${s} now`);
                shas.set(n, s);
                now.push(`${n}=${s}`);
            }
            if (bad.length) throw new Error(bad.join("; "));
            ctx.ok(`${mode} files on ${on.join(" ")}: conflist (sha256 ${now.join(" ")}), kubeconfig 0600 as ${want}, binaries`);
        },
    };
}

/** Resources in the state (Pulumi's own left out) and, of them, the SSH commands. */
async function stateCounts(ctx: Ctx): Promise<{ resources: number; commands: number }> {
    const rs = (await ctx.stack.exportState()).deployment.resources ?? [];
    return {
        resources: rs.filter((r) => !r.type.startsWith("pulumi:")).length,
        commands: rs.filter((r) => r.type.startsWith("command:")).length,
    };
}

/** One pulumi up after a config switch: its time, changes and what the state then holds. */
function switchUp(name: string, title: string, label: string, edit: (ctx: Ctx) => void): Check {
    return {
        name,
        title,
        run: async (ctx) => {
            edit(ctx);
            const r = await ctx.stack.upOk(label);
            const c = await stateCounts(ctx);
            ctx.ok(`one pulumi up (${r.seconds} s): ${changesText(r)}; now ${c.resources} resources, ${c.commands} SSH commands`);
        },
    };
}

const pingOn = (name: string, title: string, nodes?: (ctx: Ctx) => string[]): Check => ({
    name,
    title,
    run: async (ctx) => {
        if (nodes && !ctx.shared.get("extraNodeUp")) throw new Error(`${EXTRA_NODE} was not added`);
        await pingEveryPair(ctx, nodes ? nodes(ctx) : ctx.nodes);
    },
});

export const sshUp: Check = {
    name: "ssh-up",
    title: "pulumi up with cni.delivery ssh (the committed config)",
    gate: true,
    run: async (ctx) => {
        await ctx.stack.upOk("up-ssh");
        const c = await stateCounts(ctx);
        ctx.ok(`pulumi up of ${ctx.stack.name} with cni.delivery ssh: ${c.resources} resources, ${c.commands} of them SSH commands`);
    },
};
export const sshFiles = filesCheck("ssh-files", "the SSH install's files on every node, the kubeconfig as calico-cni", "ssh");

export const toDaemonsetUp = switchUp(
    "to-daemonset-up",
    "the switch to daemonset (no localBinDir, no caFromNode, Typha 2 replicas) is one pulumi up",
    "up-ds",
    (ctx) => ctx.stack.editConfig(toDaemonset),
);
export const toDaemonsetState: Check = {
    name: "to-daemonset-state",
    title: "no SSH command left in the state",
    run: async (ctx) => {
        const c = await stateCounts(ctx);
        if (c.commands !== 0) throw new Error(`${c.commands} SSH commands left in the state`);
        ctx.ok(`0 SSH commands in the state (${c.resources} resources)`);
    },
};
/**
 * The old installs' deletes ran (their host records are gone) after install-cni's rollout, and saw a
 * kubeconfig they had not written: so they left the files and the dataplane, at once.
 */
export const toDaemonsetHandover: Check = {
    name: "to-daemonset-handover",
    title: "each node's SSH install deleted after the rollout without removing install-cni's files",
    run: async (ctx) => {
        const log = fs.existsSync(path.join(ctx.logDir, "up-ds.log")) ? fs.readFileSync(path.join(ctx.logDir, "up-ds.log"), "utf8") : "";
        const bad: string[] = [];
        const took: string[] = [];
        for (const n of ctx.nodes) {
            const t = nodeTree(n);
            if (fs.existsSync(path.join(t, CNI_HOST_RECORD))) bad.push(`${n}: the SSH install's record is still there`);
            if (!["calico-kubeconfig", "10-calico.conflist"].every((f) => fs.existsSync(path.join(t, "etc/cni/net.d", f))))
                bad.push(`${n}: the delete removed the CNI files`);
            took.push(`${n} ${new RegExp(`${n}-cni-install deleted \\(([0-9.]+s)\\)`).exec(log)?.[1] ?? ""}`.trim());
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `each node's old install was deleted after the rollout (${took.join(", ")}: no wait for Felix), its record is gone, install-cni's files stayed`,
        );
    },
};
export const toDaemonsetFiles = filesCheck(
    "to-daemonset-files",
    "install-cni's files on every node, the conflist unchanged, the kubeconfig as the SA",
    "daemonset",
);

/** verb, resource (group after the first dot), subresource, and whether the CNI plugin's SA may. */
const CAN_I: [boolean, string, string, string?][] = [
    [true, "get", "pods"],
    [true, "get", "nodes"],
    [true, "get", "namespaces"],
    [true, "patch", "pods", "status"],
    [true, "create", "ipamblocks.crd.projectcalico.org"],
    [true, "update", "blockaffinities.crd.projectcalico.org"],
    [true, "delete", "ipamhandles.crd.projectcalico.org"],
    [false, "list", "pods"],
    [false, "get", "secrets"],
    [false, "create", "pods"],
    [false, "delete", "nodes"],
    [false, "patch", "nodes"],
    [false, "create", "serviceaccounts", "token"],
    [false, "update", "felixconfigurations.crd.projectcalico.org"],
    [false, "create", "networkpolicies.crd.projectcalico.org"],
];
/** The SA's rights: what the CNI plugin needs, and nothing else (in all namespaces). */
export const daemonsetRbac: Check = {
    name: "daemonset-rbac",
    title: "the CNI plugin's ServiceAccount may do what the plugin needs and nothing else",
    run: async (ctx) => {
        const bad: string[] = [];
        for (const [want, verb, res, subresource] of CAN_I) {
            const dot = res.indexOf(".");
            const [resource, group] = dot < 0 ? [res, ""] : [res.slice(0, dot), res.slice(dot + 1)];
            const got = await ctx.kube.serviceAccountCan(SA, NS, { verb, resource, group, subresource });
            if (got !== want)
                bad.push(`${verb} ${res}${subresource ? `/${subresource}` : ""}: ${got ? "yes" : "no"}, want ${want ? "yes" : "no"}`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `can-i as ${SA_USER}: get pods/nodes/namespaces, patch pods/status, IPAM CRUD yes; list pods, get secrets, create pods, delete/patch nodes, token requests, Felix config, Calico policy no`,
        );
    },
};
export const toDaemonsetPing = pingOn(
    "to-daemonset-ping",
    "fresh pods on every node ping each other (CNI ADD through install-cni's files)",
);

const extraEnv = (): Record<string, string> => ({ SANDBOX_NODES: [...NODES, EXTRA_NODE].join(" ") });

export const extraNodeJoins: Check = {
    name: "extra-node-joins",
    title: `${EXTRA_NODE}, in no stack config, joins the sandbox and its calico-node runs install-cni and is Ready`,
    run: async (ctx) => {
        await sandboxScript("up.sh", ["--no-build"], { env: extraEnv(), timeoutS: 300 }).then(
            (out) => fs.writeFileSync(path.join(ctx.logDir, "extra-node-up.log"), out),
            (e: Error) => {
                fs.writeFileSync(path.join(ctx.logDir, "extra-node-up.log"), e.message);
                throw new Error(`sandbox/up.sh could not add ${EXTRA_NODE}: ${e.message}`);
            },
        );
        ctx.shared.set("extraNodeUp", true);
        const ready = async () => {
            const [pod] = await ctx.kube.pods(NS, "k8s-app=calico-node", `spec.nodeName=${EXTRA_NODE}`);
            return pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ? pod : undefined;
        };
        const pod = await waitFor(`calico-node on ${EXTRA_NODE} to be Ready`, 200, ready, 3000).catch(async (e: Error) => {
            const pods = await ctx.kube.pods(NS, "k8s-app=calico-node", `spec.nodeName=${EXTRA_NODE}`).catch(() => []);
            const state = pods.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(", ") || "no pod";
            throw new Error(`calico-node on ${EXTRA_NODE} not Ready (${state}): ${e.message}`);
        });
        ctx.ok(
            `added to the sandbox only (not in ${ctx.stack.name}'s config, no pulumi up): its calico-node ${pod.metadata?.name} ran install-cni and is Ready`,
        );
    },
};
export const extraNodeFiles = filesCheck("extra-node-files", `install-cni's files on ${EXTRA_NODE}`, "daemonset", [EXTRA_NODE]);
export const extraNodePing = pingOn("extra-node-ping", `pods on the first node and ${EXTRA_NODE} ping each other`, (ctx) => [
    ctx.nodes[0]!,
    EXTRA_NODE,
]);

/** Cordons the node and removes its pods that no DaemonSet owns (`kubectl drain --ignore-daemonsets --force`). */
async function drain(kube: Kube, node: string): Promise<void> {
    const cordon = { apiVersion: "v1", kind: "Node", metadata: { name: node }, spec: { unschedulable: true } };
    await kube.objects.patch(cordon, undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch);
    const pods = (await kube.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items;
    for (const p of pods) {
        if (p.metadata?.ownerReferences?.some((o) => o.kind === "DaemonSet")) continue;
        await kube.deletePod(p.metadata!.namespace!, p.metadata!.name!, 60).catch(() => undefined);
    }
}

/**
 * The fourth node out of the sandbox: kubelet, Node object, sshd, namespace, trees. Idempotent, and safe
 * when it never existed. `drainFirst` drains it as a leaving node would be.
 */
export async function removeExtraNode(drainFirst = false): Promise<void> {
    const kube = new Kube();
    const nodeRef = { apiVersion: "v1", kind: "Node", name: EXTRA_NODE };
    const exists = fs.existsSync(path.join("/run/netns", EXTRA_NODE)) || (await kube.get(nodeRef).catch(() => undefined)) !== undefined;
    if (exists) {
        if (drainFirst) await drain(kube, EXTRA_NODE).catch(() => undefined);
        const quiet = (script: string, args: string[], env: Record<string, string>) =>
            sandboxScript(script, args, { env, timeoutS: 120 }).catch(() => undefined);
        await quiet("kubelets.sh", ["stop"], { SANDBOX_NODES: EXTRA_NODE });
        await kube.delete(nodeRef).catch(() => undefined);
        await kube.waitGone(nodeRef, 60).catch(() => undefined);
        await quiet("ssh-nodes.sh", ["stop", EXTRA_NODE], extraEnv());
        await quiet("netns.sh", ["down", EXTRA_NODE], extraEnv());
    }
    for (const d of [nodeTree(EXTRA_NODE), path.join(S, "kubelet", EXTRA_NODE)]) fs.rmSync(d, { recursive: true, force: true });
}

/** Out again: in the SSH mode it would be a node no config names, holding files nobody renews. */
export const extraNodeLeaves: Check = {
    name: "extra-node-leaves",
    title: `${EXTRA_NODE} drained and removed: no Node object, namespace, sshd or tree left`,
    run: async (ctx) => {
        await ctx.kube.deleteNamespace(PT_NS, 90);
        await removeExtraNode(true);
        const left: string[] = [];
        if (await ctx.kube.get({ apiVersion: "v1", kind: "Node", name: EXTRA_NODE })) left.push("Node object");
        if (fs.existsSync(path.join("/run/netns", EXTRA_NODE))) left.push("network namespace");
        if (fs.existsSync(nodeTree(EXTRA_NODE))) left.push("node tree");
        const ssh = await run("ss", ["-Hltn", `sport = :${sshPort(EXTRA_NODE, [...NODES, EXTRA_NODE])}`]);
        if (ssh.stdout.trim()) left.push(`a listener on its ssh port: ${ssh.stdout.trim()}`);
        if (left.length) throw new Error(`${EXTRA_NODE} left: ${left.join(", ")}`);
        ctx.ok(`${EXTRA_NODE} drained, its kubelet and sshd stopped, Node object, namespace and tree gone`);
    },
};

export const backToSshUp = switchUp("back-to-ssh-up", "the switch back to ssh (the committed config) is one pulumi up", "up-back", (ctx) =>
    ctx.stack.resetConfig(),
);
export const backToSshFiles = filesCheck(
    "back-to-ssh-files",
    "the SSH install's files on every node again, the conflist unchanged throughout",
    "ssh",
);
export const backToSshPing = pingOn("back-to-ssh-ping", "fresh pods on every node ping each other (CNI ADD through the SSH install)");

export const destroy = destroyCheck();
export const afterDestroy: Check = {
    name: "after-destroy",
    title: "no CNI file, record, Calico process, interface, route, chain, nft table or ipset on any node",
    run: async (ctx) => {
        const left: string[] = [];
        for (const n of ctx.nodes)
            for (const f of [
                "etc/cni/net.d/10-calico.conflist",
                "etc/cni/net.d/calico-kubeconfig",
                CNI_HOST_RECORD.slice(1),
                "opt/cni/bin/calico",
            ])
                if (fs.existsSync(path.join(nodeTree(n), f))) left.push(`${n}:/${f}`);
        left.push(...(await calicoLeftovers(ctx.nodes)));
        if (left.length) throw new Error(left.join("; "));
        ctx.ok(`no CNI file, record, Calico process, interface, route, chain, nft table or ipset on ${ctx.nodes.join(" ")}`);
    },
};

export const checks: Check[] = [
    sshUp,
    sshFiles,
    toDaemonsetUp,
    toDaemonsetState,
    toDaemonsetHandover,
    toDaemonsetFiles,
    daemonsetRbac,
    toDaemonsetPing,
    extraNodeJoins,
    extraNodeFiles,
    extraNodePing,
    extraNodeLeaves,
    backToSshUp,
    backToSshFiles,
    backToSshPing,
    destroy,
    afterDestroy,
];

/** After the style (and in the clean start): the fourth node gone, whatever a killed run left of it. */
export const cleanup = (): Promise<void> => removeExtraNode();
