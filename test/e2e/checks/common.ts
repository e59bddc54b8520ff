import type * as k8s from "@kubernetes/client-node";
import { NS } from "../lib/env";
import { calicoLeftovers, fmtPing, pingFrom } from "../lib/host";
import { pingtestPods, podIp, podNetns, PT_NS } from "../lib/kube";
import type { OpResult } from "../lib/stack";
import type { Check, Ctx } from "../lib/types";

/** Checks and steps more than one style uses. */

/** `pulumi up` of the style's stack, then calico-node (and Typha, when the stack has it) rolled out. */
export async function upAndRolled(ctx: Ctx, label: string): Promise<string> {
    const r = await ctx.stack.upOk(label);
    const ds = await ctx.kube.rollout("DaemonSet", "calico-node", 300);
    const typha = await ctx.kube.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "calico-typha" });
    const t = typha ? `, Typha ${await ctx.kube.rollout("Deployment", "calico-typha", 300)}` : "";
    return `${Object.entries(r.changes)
        .map(([op, n]) => `${n} ${op}`)
        .join(", ")} in ${r.seconds}s; calico-node ${ds} Ready${t}`;
}
/** Fresh pingtest pods on `nodes` (a CNI ADD with the current files); every pair across nodes pings with 0% loss. */
export async function pingEveryPair(ctx: Ctx, nodes: readonly string[] = ctx.nodes): Promise<Map<string, k8s.V1Pod>> {
    const pods = await pingtestPods(ctx.kube, nodes);
    const bad: string[] = [];
    let pairs = 0;
    for (const a of nodes)
        for (const b of nodes) {
            if (a === b) continue;
            const r = await pingFrom(podNetns(pods.get(a)!), podIp(pods.get(b)!), 5);
            pairs++;
            if (r.loss !== "0%") bad.push(`pingtest-${a} -> pingtest-${b} (${podIp(pods.get(b)!)}): ${fmtPing(r)}`);
        }
    if (bad.length) throw new Error(bad.join("; "));
    ctx.ok(`${pairs} pod pairs across nodes, 0% loss (${nodes.map((n) => `${n}=${podIp(pods.get(n)!)}`).join(" ")})`);
    ctx.shared.set("pods", pods);
    return pods;
}
export const pingCheck = (title = "fresh pods on every node ping each other across nodes, 0% loss"): Check => ({
    name: "ping",
    title,
    run: async (ctx) => void (await pingEveryPair(ctx)),
});

/** "3 created, 1 updated" from an operation's changes. */
export function changesText(r: OpResult): string {
    const past: Record<string, string> = { create: "created", update: "updated", delete: "deleted", replace: "replaced" };
    const parts = Object.entries(r.changes)
        .filter(([op, n]) => op !== "same" && n > 0)
        .map(([op, n]) => `${n} ${past[op] ?? op}`);
    return parts.join(", ") || "no changes";
}

/** The pingtest pods first (their CNI DEL needs the plugin's files and calico-node), then `pulumi destroy`, which must succeed. */
export async function destroyStack(ctx: Ctx): Promise<OpResult> {
    await ctx.kube.deleteNamespace(PT_NS, 90);
    const r = await ctx.stack.destroy("destroy");
    if (!r.ok) throw new Error(`pulumi destroy failed (see ${r.log})`);
    return r;
}
export const destroyCheck = (title = "pulumi destroy of the stack"): Check => ({
    name: "destroy",
    title,
    run: async (ctx) => {
        const r = await destroyStack(ctx);
        ctx.ok(`pulumi destroy of ${ctx.stack.name}: ${changesText(r)} in ${r.seconds}s`);
    },
});

/** Destroy, then nothing of Calico in any node's namespace. */
export const destroyCleanCheck = (title = "destroy leaves no Calico process, interface, route, rule, nft table or ipset"): Check => ({
    name: "destroy",
    title,
    run: async (ctx) => {
        const r = await destroyStack(ctx);
        const left = await calicoLeftovers(ctx.nodes);
        if (left.length) throw new Error(`left after destroy: ${left.join("; ")}`);
        ctx.ok(`destroy in ${r.seconds}s; no Calico process, interface, route, iptables rule, nft table or ipset left`);
    },
});
