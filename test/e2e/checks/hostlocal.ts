import * as fs from "fs";
import * as path from "path";
import { ipIn } from "../../../verify/net";
import { NODES, NS, nodeIp, nodeTree } from "../lib/env";
import { calicoLeftovers, fmtPing, pingFrom } from "../lib/host";
import { podIp, pingtestPod, PT_NS } from "../lib/kube";
import { run, sleep } from "../lib/proc";
import type { StackConfig } from "../lib/stack";
import type { Check, Ctx } from "../lib/types";
import { destroyStack, pingCheck, upAndRolled } from "./common";

/**
 * The host-local IPAM style: `cni.ipam: host-local`, each node's Kubernetes podCIDR (kube-controller-manager
 * --allocate-node-cidrs) as its `podCidr`, one unencapsulated pool over the cluster range.
 *
 * Shared keys: "podCidrs" (Map node -> podCIDR, from setup), "pods" (the ping check's pods).
 */
export const HL_POOL_CIDR = process.env.SANDBOX_POD_CIDR ?? "10.244.0.0/16";
/** host-local's state on a node: one file per address, named after it, holding the container id. */
const HL_DIR = "var/lib/cni/networks/k8s-pod-network";

/** The addresses host-local has handed out on `node` (its allocation files), sorted. */
function hlFiles(node: string): string[] {
    const d = path.join(nodeTree(node), HL_DIR);
    if (!fs.existsSync(d)) return [];
    return fs
        .readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isFile() && /^[0-9]/.test(e.name))
        .map((e) => e.name)
        .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}
const removeHlDirs = (nodes: readonly string[]) =>
    nodes.forEach((n) => fs.rmSync(path.join(nodeTree(n), HL_DIR), { recursive: true, force: true }));

function podCidrs(ctx: Ctx): Map<string, string> {
    const m = ctx.shared.get("podCidrs") as Map<string, string> | undefined;
    if (!m) throw new Error("no podCidrs (the style's setup did not run)");
    return m;
}

/** Each node's podCIDR, inside the pool's range; stale allocations of an interrupted run removed. */
export async function setup(ctx: Ctx): Promise<void> {
    // An interrupted run's allocations would count as leaks below; no pod of a host-local stack runs now.
    removeHlDirs(ctx.nodes);
    const cidrs = new Map<string, string>();
    const bad: string[] = [];
    for (const n of ctx.nodes) {
        const c = (await ctx.kube.core.readNode({ name: n })).spec?.podCIDR ?? "";
        if (!c || !ipIn(c.split("/")[0]!, HL_POOL_CIDR)) bad.push(`${n}: podCIDR '${c}'`);
        cidrs.set(n, c);
    }
    if (bad.length)
        throw new Error(`nodes without a podCIDR in ${HL_POOL_CIDR} (kube-controller-manager --allocate-node-cidrs): ${bad.join("; ")}`);
    ctx.shared.set("podCidrs", cidrs);
}

/** Removes host-local's allocation dirs from every node (what a host-local stack leaves on the hosts). */
export async function cleanup(): Promise<void> {
    removeHlDirs(NODES);
}

export function config(c: StackConfig, shared: Map<string, unknown>): void {
    const cidrs = shared.get("podCidrs") as Map<string, string>;
    for (const n of c.get("nodes") as { name: string }[]) c.item("nodes", n.name).set("podCidr", cidrs.get(n.name));
    c.set("pools", [{ name: "hl-pods", cidr: HL_POOL_CIDR, ipipMode: "Never", vxlanMode: "Never", natOutgoing: true }]);
    c.set("cni", "ipam", "host-local");
    // The calico/cni image (and the sandbox's image root of it) has no bandwidth plugin: off, as the daemonset
    // delivery would need it on the hosts already; the check is about addresses, not traffic shaping.
    c.set("cni", "bandwidth", false);
}

export const up: Check = {
    name: "up",
    title: "pulumi up (host-local on the nodes' podCIDRs); calico-node rolled out",
    gate: true,
    run: async (ctx) => {
        const cidrs = podCidrs(ctx);
        const r = await upAndRolled(ctx, "up");
        const list = ctx.nodes.map((n) => `${n}=${cidrs.get(n)}`).join(" ");
        ctx.ok(`pulumi up of ${ctx.stack.name}: ${r} (host-local, pool hl-pods ${HL_POOL_CIDR} unencapsulated, podCIDRs ${list})`);
    },
};

export const conflist: Check = {
    name: "conflist",
    title: "every conflist's IPAM is host-local on the node's podCIDR; calico-node USE_POD_CIDR=true",
    run: async (ctx) => {
        const cidrs = podCidrs(ctx);
        const bad: string[] = [];
        const seen: string[] = [];
        for (const n of ctx.nodes) {
            const f = path.join(nodeTree(n), "etc/cni/net.d/10-calico.conflist");
            let ipam: unknown;
            try {
                ipam = (JSON.parse(fs.readFileSync(f, "utf8")) as { plugins: { type: string; ipam?: unknown }[] }).plugins.find(
                    (p) => p.type === "calico",
                )?.ipam;
            } catch (e) {
                ipam = `unreadable (${(e as Error).message})`;
            }
            const text = JSON.stringify(ipam);
            // Calico's plugin replaces "usePodCidr" with the Node's spec.podCIDR at each ADD (host-local's own file shows the result).
            const i = ipam as Record<string, unknown> | undefined;
            if (!i || Object.keys(i).length !== 2 || i.type !== "host-local" || i.subnet !== "usePodCidr")
                bad.push(`${n}: conflist ipam ${text}`);
            try {
                fs.accessSync(path.join(nodeTree(n), "opt/cni/bin/host-local"), fs.constants.X_OK);
            } catch {
                bad.push(`${n}: no /opt/cni/bin/host-local`);
            }
            const now = (await ctx.kube.core.readNode({ name: n })).spec?.podCIDR;
            if (now !== cidrs.get(n)) bad.push(`${n}: Node podCIDR changed (${cidrs.get(n)} -> ${now})`);
            seen.push(`${n}: ${text} on ${cidrs.get(n)}`);
        }
        const ds = await ctx.kube.apps.readNamespacedDaemonSet({ namespace: NS, name: "calico-node" });
        const upc = ds.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "USE_POD_CIDR")?.value;
        if (upc !== "true") bad.push(`calico-node USE_POD_CIDR '${upc}'`);
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`${seen.join("; ")}; host-local binary on every node; calico-node USE_POD_CIDR=true`);
    },
};

export const ping = pingCheck("host-local: fresh pods on every node ping each other across nodes, 0% loss");

export const addresses: Check = {
    name: "addresses",
    title: "a second pod per node: every pod inside its node's podCIDR from host-local's files, none twice, no Calico IPAM handle",
    run: async (ctx) => {
        const cidrs = podCidrs(ctx);
        // A second fresh pod on every node: two addresses each, from the node's own range.
        for (const n of ctx.nodes) await ctx.kube.apply(pingtestPod(`second-${n}`, n));
        const names = ctx.nodes.flatMap((n) => [`pingtest-${n}`, `second-${n}`]);
        const pods = await ctx.kube.podsReady(PT_NS, names, 120).catch(async (e: Error) => {
            const all = await ctx.kube.pods(PT_NS, "app=pingtest");
            throw new Error(`second pods not Ready: ${all.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(" ")} (${e.message})`);
        });
        const bad: string[] = [];
        const seen: string[] = [];
        const all: string[] = [];
        for (const n of ctx.nodes) {
            for (const name of [`pingtest-${n}`, `second-${n}`]) {
                const pod = pods[names.indexOf(name)]!;
                const ip = podIp(pod);
                all.push(ip);
                if (!ipIn(ip, cidrs.get(n)!)) bad.push(`${name}: '${ip}' outside ${n}'s podCIDR ${cidrs.get(n)}`);
                // sbx-kubelet's CNI container id is "sbx" + the pod UID without dashes (toolchain/kubelet/network.go).
                const cid = `sbx${(pod.metadata?.uid ?? "").replace(/-/g, "")}`;
                let held = "";
                try {
                    held = (fs.readFileSync(path.join(nodeTree(n), HL_DIR, ip), "utf8").split("\n")[0] ?? "").replace(/\r/g, "");
                } catch {
                    held = "";
                }
                if (held !== cid) bad.push(`${name}: host-local's ${HL_DIR}/${ip} on ${n} does not hold ${cid}`);
                seen.push(`${name}=${ip}`);
            }
            seen.push(`(files on ${n}: ${hlFiles(n).join(" ")});`);
        }
        const dups = [...new Set(all.filter((ip, i) => ip && all.indexOf(ip) !== i))];
        if (dups.length) bad.push(`addresses handed out twice: ${dups.join(" ")}`);
        const handles = (await ctx.kube.objects.list("crd.projectcalico.org/v1", "IPAMHandle")).items.filter((h) =>
            h.metadata?.name?.includes("k8s-pod-network"),
        ).length;
        if (handles !== 0) bad.push(`${handles} Calico IPAM handles for pods (calico-ipam was used)`);
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`every pod inside its node's podCIDR, none twice: ${seen.join(" ").replace(/;$/, "")}; no Calico IPAM handle for any pod`);
    },
};

export const routes: Check = {
    name: "routes-node-to-pod",
    title: "BIRD routes each node's podCIDR via that node; every node pings every remote pod",
    run: async (ctx) => {
        const cidrs = podCidrs(ctx);
        const bad: string[] = [];
        const seen: string[] = [];
        for (const a of ctx.nodes)
            for (const b of ctx.nodes) {
                if (a === b) continue;
                const bird = (await run("ip", ["-n", a, "route", "show", "proto", "bird"])).stdout;
                if (!bird.split("\n").some((l) => l.startsWith(`${cidrs.get(b)} via ${nodeIp(b)} `)))
                    bad.push(`${a}: no BIRD route ${cidrs.get(b)} via ${nodeIp(b)} (${bird.replace(/\s+/g, " ").trim()})`);
                const pod = await ctx.kube.pod(PT_NS, `second-${b}`);
                const r = await pingFrom(a, podIp(pod), 5);
                if (r.loss !== "0%") bad.push(`node ${a} -> second-${b}: ${fmtPing(r)}`);
                seen.push(`${a}->second-${b}`);
            }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`every node routes every other node's podCIDR via that node (BIRD); node-to-pod pings 0% loss: ${seen.join(" ")}`);
    },
};

export const release: Check = {
    name: "release",
    title: "deleting the pods releases their host-local addresses",
    run: async (ctx) => {
        // The test pods' addresses come back with their CNI DEL; kube-controllers (on the pod network) keeps its own.
        const kc = await ctx.kube.pods(NS, "k8s-app=calico-kube-controllers");
        const kcIp = kc[0]?.status?.podIP ?? "";
        await ctx.kube.deleteNamespace(PT_NS, 90);
        const left = ctx.nodes.flatMap((n) =>
            hlFiles(n)
                .filter((f) => f !== kcIp)
                .map((f) => `${n}: ${f}`),
        );
        if (left.length) throw new Error(`addresses still allocated after the pods were deleted: ${left.join("; ")}`);
        ctx.ok(`deleting the pods released their host-local addresses: only kube-controllers' ${kcIp} is still allocated`);
    },
};

export const destroy: Check = {
    name: "destroy",
    title: "destroy releases kube-controllers' address too and leaves nothing of Calico",
    run: async (ctx) => {
        const r = await destroyStack(ctx);
        let left: string[] = [];
        for (let i = 0; i < 30; i++) {
            left = ctx.nodes.flatMap((n) => (hlFiles(n).length ? [`${n}: ${hlFiles(n).join(" ")}`] : []));
            if (!left.length) break;
            await sleep(1000);
        }
        const out = await calicoLeftovers(ctx.nodes);
        if (out.length || left.length)
            throw new Error(`${out.join("; ")}${out.length ? "; " : ""}host-local addresses still allocated: ${left.join("; ") || "none"}`);
        ctx.ok(
            `destroy in ${r.seconds}s; kube-controllers' address released too (no host-local allocation left); no Calico process, interface, route, iptables rule, nft table or ipset left`,
        );
        removeHlDirs(ctx.nodes);
    },
};

export const checks: Check[] = [up, conflist, ping, addresses, routes, release, destroy];
