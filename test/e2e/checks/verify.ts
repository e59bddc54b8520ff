import * as fs from "fs";
import * as path from "path";
import { REPO, S } from "../lib/env";
import { sshNodes } from "../lib/machine";
import { run, sandboxScript } from "../lib/proc";
import type { Check, Ctx } from "../lib/types";
import { destroyCheck, upAndRolled } from "./common";

/**
 * `npm run verify` against the real-Calico sandbox: the stack up, verify on the healthy cluster, then on
 * three broken ones, each restored before the next: a node whose sshd was down during `up` (so it has no
 * conflist), a node whose calico-node was stopped (its kubelet stand-in stopped), and a NetworkPolicy that
 * blocks the probes. Each broken run must fail naming the cause.
 */

interface VerifyCheck {
    name: string;
    status: string;
    details: string[];
    fix?: string;
}
interface VerifyRun {
    code: number;
    checks: VerifyCheck[];
}
const VERIFY_NS = "calico-verify";

/** verify --json on the style's stack (cli.ts as `npm run verify` runs it); stdout to <label>.json, stderr to <label>.log. */
async function verifyRun(ctx: Ctx, label: string): Promise<VerifyRun> {
    const r = await run(
        path.join(REPO, "node_modules", ".bin", "ts-node"),
        ["--transpile-only", "verify/cli.ts", "--stack", ctx.stack.name, "--config-file", ctx.stack.configFile, "--json"],
        { cwd: REPO, timeoutS: 600 },
    );
    fs.writeFileSync(path.join(ctx.logDir, `${label}.json`), r.stdout);
    fs.writeFileSync(path.join(ctx.logDir, `${label}.log`), r.stderr);
    let checks: VerifyCheck[] = [];
    try {
        checks = (JSON.parse(r.stdout) as { checks: VerifyCheck[] }).checks ?? [];
    } catch {
        // no JSON (verify could not start): the exit code and the empty list say so
    }
    return { code: r.code, checks };
}
const statusOf = (v: VerifyRun, name: string): string => v.checks.find((c) => c.name === name)?.status ?? "";
const failedOf = (v: VerifyRun): string =>
    v.checks
        .filter((c) => c.status === "fail")
        .map((c) => c.name)
        .join(", ");
/** The check's details and fix, as one line ("" when verify has no such check). */
function detailsOf(v: VerifyRun, name: string): string {
    const c = v.checks.find((x) => x.name === name);
    return c ? `${c.details.join("; ")} | fix: ${c.fix ?? ""}` : "";
}

export const up: Check = {
    name: "up",
    title: "pulumi up with verify.timeoutSeconds 40 (broken runs fail sooner)",
    gate: true,
    run: async (ctx) => {
        ctx.stack.editConfig((c) => c.set("verify", "timeoutSeconds", 40));
        ctx.ok(`pulumi up of ${ctx.stack.name}: ${await upAndRolled(ctx, "up")}`);
    },
};

export const healthy: Check = {
    name: "healthy",
    title: "verify passes on the healthy sandbox",
    run: async (ctx) => {
        const v = await verifyRun(ctx, "healthy");
        if (v.code !== 0) throw new Error(`exit ${v.code}; failed: ${failedOf(v)} (${path.join(ctx.logDir, "healthy.log")})`);
        ctx.ok(v.checks.map((c) => `${c.name} ${c.status}`).join(", "));
    },
};

/** A node without a conflist: its sshd down during an up that changes every node's files. */
export const noConflist: Check = {
    name: "no-conflist",
    title: "verify fails Data path naming the node whose sshd was down during an up",
    run: async (ctx) => {
        const bad = ctx.nodes[1]!;
        await sshNodes("stop", bad);
        fs.rmSync(path.join(S, "nodes", bad, "etc/cni/net.d/10-calico.conflist"), { force: true });
        ctx.stack.editConfig((c) => c.set("cni", "logLevel", "debug"));
        // Fails on the stopped node, by design: the others' files change.
        await ctx.stack.up("up-nosshd", { continueOnError: true });
        const v = await verifyRun(ctx, "no-conflist");
        const d = detailsOf(v, "Data path");
        if (!(v.code !== 0 && statusOf(v, "Data path") === "fail" && d.includes(bad)))
            throw new Error(`no conflist on ${bad}: exit ${v.code}; failed: ${failedOf(v)}; Data path: ${d.slice(0, 300)}`);
        ctx.ok(`no conflist on ${bad}: exit ${v.code}; Data path: ${d.slice(0, 300)}`);
    },
};
export const restoreSshd: Check = {
    name: "restore-sshd",
    title: "with every sshd started again, pulumi up succeeds",
    run: async (ctx) => {
        await sshNodes("start");
        const r = await ctx.stack.up("up-restore1");
        if (!r.ok) throw new Error(`up after sshd start failed (${r.log})`);
        ctx.ok(`every sshd started; pulumi up in ${r.seconds}s`);
    },
};

/** calico-node stopped on a node: its kubelet stand-in stopped, so the pods' processes end. */
export const nodeStopped: Check = {
    name: "calico-node-stopped",
    title: "verify fails naming the node whose calico-node was stopped",
    run: async (ctx) => {
        const bad = ctx.nodes[2]!;
        await sandboxScript("kubelets.sh", ["stop"], { env: { SANDBOX_NODES: bad } });
        const v = await verifyRun(ctx, "node-stopped");
        const summary = ["calico-node", "BGP", "Typha", "Data path"]
            .map((c) => `${c} ${statusOf(v, c)}: ${detailsOf(v, c).slice(0, 160)}; `)
            .join("");
        const line = `calico-node stopped on ${bad}: exit ${v.code}; failed: ${failedOf(v)}; ${summary.slice(0, 600)}`;
        if (!(v.code !== 0 && summary.includes(bad))) throw new Error(line);
        ctx.ok(line);
    },
};
export const restoreCalicoNode: Check = {
    name: "restore-calico-node",
    title: "with every kubelet started again, calico-node rolls out",
    run: async (ctx) => {
        await sandboxScript("kubelets.sh", ["start"]);
        const ds = await ctx.kube.rollout("DaemonSet", "calico-node", 180).catch((e: Error) => {
            throw new Error(`calico-node not Ready again on ${ctx.nodes[2]}: ${e.message}`);
        });
        ctx.ok(`every kubelet started; calico-node ${ds} Ready`);
    },
};

/** A NetworkPolicy that blocks the probes in verify's namespace. */
export const blockingPolicy: Check = {
    name: "blocking-policy",
    title: "verify fails Data path naming a deny-all NetworkPolicy in its namespace",
    run: async (ctx) => {
        // verify deletes the namespace it created after each run; a Terminating one would refuse the policy.
        await ctx.kube.waitGone({ apiVersion: "v1", kind: "Namespace", name: VERIFY_NS }, 150);
        try {
            await ctx.kube.core.createNamespace({ body: { metadata: { name: VERIFY_NS } } }).catch((e: Error) => {
                throw new Error(`could not create namespace ${VERIFY_NS}: ${e.message}`);
            });
            await ctx.kube.apply({
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "deny-all", namespace: VERIFY_NS },
                spec: { podSelector: {}, policyTypes: ["Ingress"] },
            });
            const v = await verifyRun(ctx, "policy");
            const d = detailsOf(v, "Data path");
            if (!(v.code !== 0 && d.includes("deny-all")))
                throw new Error(`exit ${v.code}; failed: ${failedOf(v)}; Data path: ${d.slice(0, 300)}`);
            ctx.ok(`exit ${v.code}; Data path: ${d.slice(0, 300)}`);
        } finally {
            await ctx.kube.deleteNamespace(VERIFY_NS, 90).catch(() => undefined);
        }
    },
};

export const noProbePodLeft: Check = {
    name: "no-probe-pod-left",
    title: "no verify probe pod left in any namespace",
    run: async (ctx) => {
        const left = (await ctx.kube.core.listPodForAllNamespaces({ labelSelector: "app.kubernetes.io/name=calico-verify" })).items;
        if (left.length)
            throw new Error(
                `${left.length} probe pods left: ${left.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`).join(", ")}`,
            );
        ctx.ok("no probe pod left");
    },
};

export const destroy = destroyCheck();

export const checks: Check[] = [
    up,
    healthy,
    noConflist,
    restoreSshd,
    nodeStopped,
    restoreCalicoNode,
    blockingPolicy,
    noProbePodLeft,
    destroy,
];
