import * as fs from "fs";
import * as path from "path";
import type * as k8s from "@kubernetes/client-node";
import { nodeTree } from "../lib/env";
import { inNetns, procInNetns } from "../lib/host";
import { podIp, podNetns } from "../lib/kube";
import { run } from "../lib/proc";
import type { Check, Ctx } from "../lib/types";
import { upAndRolled } from "./common";

/**
 * The VXLAN style: both pools `vxlanMode: Always` and `calicoNode.backend: vxlan` (styles.ts edits the
 * config). The pod MTU is the network's 1500 less VXLAN's 50 bytes, no BIRD runs, and a node reaches
 * every other node's pods through `vxlan.calico`.
 */
export const WANT_MTU = 1450;

/** The MTU of the calico plugin in a node's conflist, or the reason there is none. */
export function conflistMtu(node: string): string {
    try {
        const f = path.join(nodeTree(node), "etc/cni/net.d/10-calico.conflist");
        const c = JSON.parse(fs.readFileSync(f, "utf8")) as { plugins?: { type?: string; mtu?: number }[] };
        return String(c.plugins?.find((p) => p.type === "calico")?.mtu ?? "none");
    } catch (e) {
        return `unreadable (${(e as Error).message})`;
    }
}

/** A link's MTU in a node's namespace, or undefined when there is no such link. */
async function linkMtu(node: string, link: string): Promise<string | undefined> {
    const r = await run("ip", ["-n", node, "-o", "link", "show", link]);
    return r.code === 0 ? /\bmtu (\d+)/.exec(r.stdout)?.[1] : undefined;
}

/** eth0's MTU inside a pod's namespace. */
export async function podMtu(pod: k8s.V1Pod): Promise<string> {
    const r = await inNetns(podNetns(pod), "cat", ["/sys/class/net/eth0/mtu"]);
    return r.stdout.trim();
}

/** The device `ip route get` picks in `node` towards `dest`. */
export async function routeDev(node: string, dest: string): Promise<string | undefined> {
    const r = await run("ip", ["-n", node, "route", "get", dest]);
    return /\bdev (\S+)/.exec(r.stdout)?.[1];
}

export const up: Check = {
    name: "up",
    title: "pulumi up (VXLAN pools, backend vxlan); calico-node rolled out",
    gate: true,
    run: async (ctx) => ctx.ok(`pulumi up of ${ctx.stack.name} (VXLAN pools, backend vxlan): ${await upAndRolled(ctx, "up")}`),
};

export const mtuNoBird: Check = {
    name: "mtu-no-bird",
    title: "conflist and vxlan.calico MTU 1500 - 50 on every node; no BIRD anywhere",
    run: async (ctx) => {
        const bad: string[] = [];
        const seen: string[] = [];
        for (const n of ctx.nodes) {
            const m = conflistMtu(n);
            if (m !== String(WANT_MTU)) bad.push(`${n}: conflist mtu '${m}'`);
            const vm = await linkMtu(n, "vxlan.calico");
            if (vm !== String(WANT_MTU)) bad.push(`${n}: vxlan.calico mtu '${vm ?? "no interface"}'`);
            const b = await procInNetns(n, /^bird( |$)|^bird6( |$)/);
            if (b) bad.push(`${n}: a BIRD process runs (pid ${b.pid})`);
            seen.push(`${n}: conflist ${m}, vxlan.calico ${vm}`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`pod MTU 1500 - 50 = ${WANT_MTU}: ${seen.join("; ")}; no bird or bird6 process in any node`);
    },
};

/** Reads the pods the ping check stored (`shared` "pods": node -> V1Pod). */
function pingPods(ctx: Ctx): Map<string, k8s.V1Pod> {
    const pods = ctx.shared.get("pods") as Map<string, k8s.V1Pod> | undefined;
    if (!pods) throw new Error("no pingtest pods (the ping check did not run or failed)");
    return pods;
}

export const throughVxlan: Check = {
    name: "through-vxlan",
    title: "every pod's eth0 has the VXLAN MTU; every node routes other nodes' pods via vxlan.calico",
    run: async (ctx) => {
        const pods = pingPods(ctx);
        const bad: string[] = [];
        for (const n of ctx.nodes) {
            const pm = await podMtu(pods.get(n)!);
            if (pm !== String(WANT_MTU)) bad.push(`pingtest-${n}: eth0 mtu '${pm}'`);
        }
        for (const a of ctx.nodes)
            for (const b of ctx.nodes) {
                if (a === b) continue;
                const dev = await routeDev(a, podIp(pods.get(b)!));
                if (dev !== "vxlan.calico") bad.push(`${a} -> pingtest-${b}: route via '${dev ?? "none"}'`);
            }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`every pod's eth0 MTU ${WANT_MTU}; every node routes every other node's pod via vxlan.calico`);
    },
};
