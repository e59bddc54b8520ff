import { spawn } from "child_process";
import * as path from "path";
import { SANDBOX_DIR } from "./env";

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}
export interface RunOptions {
    /** Bound on the command; it gets SIGTERM, then SIGKILL 5 s later. Default 60 s. */
    timeoutS?: number;
    input?: string;
    cwd?: string;
    env?: Record<string, string | undefined>;
}

/** Runs a command without a shell, bounded; never throws for a non-zero exit (see `runOk`). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const limit = (opts.timeoutS ?? 60) * 1000;
        let killer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
            stderr += `\n(timed out after ${limit / 1000}s)`;
            child.kill("SIGTERM");
            killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        }, limit);
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` });
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            if (killer) clearTimeout(killer);
            resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(opts.input ?? "");
    });
}

/** `run`, but a non-zero exit throws, naming the command and the tail of its output. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
    const r = await run(cmd, args, opts);
    if (r.code !== 0) {
        const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-15).join("\n");
        throw new Error(`\`${[cmd, ...args].join(" ")}\` exited ${r.code}:\n${tail}`);
    }
    return r.stdout;
}

/** One of the machine's bash scripts (sandbox/*.sh: up, down, netns, ssh-nodes, kubelets, calico-etcd). */
export function sandboxScript(script: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
    return runOk("bash", [path.join(SANDBOX_DIR, script), ...args], { timeoutS: 300, ...opts });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined/false, or throws after
 * `timeoutS` naming `what` (and the last error the probe threw).
 */
export async function waitFor<T>(what: string, timeoutS: number, probe: () => Promise<T | undefined | false>, everyMs = 1000): Promise<T> {
    const end = Date.now() + timeoutS * 1000;
    let last = "";
    for (;;) {
        try {
            const v = await probe();
            if (v !== undefined && v !== false) return v;
        } catch (e) {
            last = (e as Error).message;
        }
        if (Date.now() >= end) throw new Error(`timed out after ${timeoutS}s waiting for ${what}${last ? `: ${last}` : ""}`);
        await sleep(everyMs);
    }
}

/** Seconds since `t0` (from Date.now()), one decimal. */
export const secondsSince = (t0: number): number => Math.round((Date.now() - t0) / 100) / 10;
