/**
 * `npm run e2e`: the program against the local sandbox (docs/sandbox.md), one install style after the
 * other, each on its own stack, driven through the Automation API. The styles, their stacks, config and
 * checks are one table (styles.ts); run order, titles and cleanup all come from it.
 *
 * Starts the cluster when it is not running (never builds the toolchain), removes whatever an earlier run
 * left, and leaves the machine as found. Every wait is bounded; traffic stays on 127.0.0.1 and the
 * sandbox's namespaces. Logs: $S/e2e/. Prints a table and `e2e: N passed, M failed`.
 */
import * as fs from "fs";
import * as path from "path";
import { logRoot, NODES, REPO } from "./lib/env";
import { Kube, PT_NS } from "./lib/kube";
import {
    cleanTrees,
    REFERENCE_MANIFEST,
    referenceApply,
    removeOrphans,
    sshNodes,
    startCluster,
    stopCluster,
    toolchainReady,
} from "./lib/machine";
import { run } from "./lib/proc";
import { stopAllProbes } from "./lib/probe";
import { Report } from "./lib/report";
import { E2EStack } from "./lib/stack";
import type { Ctx, Style } from "./lib/types";
import { STYLES } from "./styles";

const report = new Report();
const REFERENCE_FIGURE = "reference: kubectl apply --server-side --dry-run=server of the official calico-typha.yaml (s)";
const T0 = Date.now();
let startedCluster = false;
let kube: Kube;

beforeAll(async () => {
    await toolchainReady();
    fs.rmSync(logRoot(), { recursive: true, force: true });
    fs.mkdirSync(logRoot(), { recursive: true });
    report.say("==> Pulumi toolchain (sandbox/plugin-versions.sh)");
    report.say((await run("bash", [path.join(__dirname, "../../sandbox/plugin-versions.sh")], { timeoutS: 120 })).stdout.trim());
    report.say("==> sandbox cluster (sandbox/up.sh --no-build)");
    startedCluster = await startCluster(path.join(logRoot(), "up-sh.log"));
    kube = new Kube();
    report.say("==> clean start: every style's stack, what its setup left, orphans, host files");
    await kube.deleteNamespace(PT_NS);
    for (const style of STYLES) {
        await new E2EStack(style.stack, path.join(logRoot(), style.name), style.base).remove();
        await style.cleanup?.();
    }
    report.say(await removeOrphans());
    cleanTrees();
    const ref = await referenceApply(REFERENCE_MANIFEST, path.join(logRoot(), "reference-apply.log"));
    if (ref !== undefined)
        report.figure("reference: kubectl apply --server-side --dry-run=server of the official calico-typha.yaml (s)", ref);
}, 900_000);

afterAll(async () => {
    await stopAllProbes();
    await sshNodes("start").catch(() => undefined);
    if (startedCluster && process.env.E2E_KEEP_CLUSTER !== "1") await stopCluster().catch(() => undefined);
    const up = report.figures.find(([k]) => k.startsWith("install: pulumi up from scratch"))?.[1];
    const ref = report.figures.find(([k]) => k === REFERENCE_FIGURE)?.[1];
    if (up && ref) report.figure("ratio: up from scratch / reference apply", `${(Number(up) / Number(ref)).toFixed(1)}x`);
    report.write(logRoot(), Math.round((Date.now() - T0) / 1000));
}, 600_000);

function describeStyle(style: Style): void {
    describe(`${style.name}: ${style.title}`, () => {
        const logDir = path.join(logRoot(), style.name);
        const stack = new E2EStack(style.stack, logDir, style.base);
        const shared = new Map<string, unknown>();
        let lines: string[] = [];
        let stopped: string | undefined;
        const ctx = (): Ctx => ({
            style,
            stack,
            kube,
            logDir,
            nodes: NODES,
            shared,
            ok: (line) => {
                lines.push(line);
                report.say(`ok: ${line}`);
            },
            figure: (name, value) => report.figure(`${style.name}: ${name}`, value),
        });

        beforeAll(async () => {
            report.say(`\n==> ${style.name} (stack ${style.stack}): ${style.title}`);
            fs.mkdirSync(logDir, { recursive: true });
            try {
                await style.setup?.(ctx());
                await stack.prepare(style.config && ((c) => style.config!(c, shared)));
            } catch (e) {
                stopped = `the style's setup failed: ${(e as Error).message}`;
            }
        }, 900_000);

        for (const check of style.checks) {
            test(`${check.name}: ${check.title}`, async () => {
                lines = [];
                const t0 = Date.now();
                const seconds = () => Math.round((Date.now() - t0) / 100) / 10;
                report.say(`\n--> ${style.name} / ${check.name}: ${check.title}`);
                if (stopped) {
                    report.add({
                        style: style.name,
                        check: check.name,
                        title: check.title,
                        result: "FAIL",
                        seconds: 0,
                        lines,
                        error: `not run: ${stopped}`,
                    });
                    throw new Error(`not run: ${stopped}`);
                }
                try {
                    await check.run(ctx());
                    report.add({ style: style.name, check: check.name, title: check.title, result: "pass", seconds: seconds(), lines });
                } catch (e) {
                    const error = (e as Error).message;
                    report.add({
                        style: style.name,
                        check: check.name,
                        title: check.title,
                        result: "FAIL",
                        seconds: seconds(),
                        lines,
                        error,
                    });
                    if (check.gate) stopped = `${check.name} failed`;
                    throw e;
                }
            }, 1_800_000);
        }

        afterAll(async () => {
            await stopAllProbes();
            // Workloads go before the network does: their CNI DEL needs the plugin's files and calico-node.
            await kube.deleteNamespace(PT_NS).catch(() => undefined);
            await stack.remove().catch((e) => report.say(`${style.name}: removing stack ${style.stack}: ${(e as Error).message}`));
            await style.cleanup?.();
            cleanTrees();
        }, 900_000);
    });
}

// E2E_STYLES=vxlan,etcd runs only those styles (the clean start still covers every style's stack).
const only = process.env.E2E_STYLES?.split(",").filter(Boolean);
STYLES.filter((s) => !only || only.includes(s.name)).forEach(describeStyle);

// The CLI writes a missing encryptionsalt into the stack file of its cwd: every command must have run on a working copy.
test("the repo's stack files are as committed, and no other was written", async () => {
    const row = {
        style: "repo",
        check: "stack-files",
        title: "the repo's stack files are as committed, and no other was written",
        seconds: 0,
    };
    const status = await run("git", ["status", "--porcelain", "--untracked-files=all", "--", "Pulumi.*.yaml"], { cwd: REPO });
    if (status.code !== 0) return void report.say(`(not a git checkout: ${status.stderr.trim()})`);
    const changed = status.stdout.trim();
    report.add({
        ...row,
        result: changed ? "FAIL" : "pass",
        lines: ["git status: no Pulumi.*.yaml changed or added"],
        error: changed || undefined,
    });
    expect(changed).toBe("");
});
