import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkBounds, formatFigures, parsePingLog, summarize, type PairResult } from "./pingLog";

/**
 * Continuous traffic probe: one background pinger per (source netns, destination) pair, every intervalS
 * (0.1 s), while a change happens; then per pair: sent, received, lost and the longest time without a reply
 * (pingLog.ts). Each pinger is `timeout ... ip netns exec SRC ping -n -D -O -i INTERVAL -W 1 -w MAX DEST`,
 * its output in <dir>/<name>/<k>.log (with <k>.pid and <k>.pair beside it, so another process can tell a
 * probe of that name is running). It pings only what it is given: callers give addresses inside the
 * sandbox's own namespaces.
 *
 * Every pinger is bounded: ping's own -w deadline (maxSeconds, 900), and `timeout` 10 s later as the
 * backstop, so a killed test leaves nothing running for long. The pingers stay in this process's group, so
 * a Ctrl-C of the whole test ends them too.
 */
export interface PingPair {
    src: string;
    dest: string;
}
export interface ProbeOptions {
    /** Where <name>/ goes; default $E2E_LOG_DIR/probe, else <tmpdir>/probe. */
    dir?: string;
    intervalS?: number;
    maxSeconds?: number;
}

/** Thrown by Probe.start when a pinger did not start; `probe` is still running its other pingers. */
export class ProbeStartError extends Error {
    constructor(
        message: string,
        readonly probe: Probe,
    ) {
        super(message);
        this.name = "ProbeStartError";
    }
}

interface Pinger {
    k: number;
    src: string;
    dest: string;
    log: string;
    child: ChildProcess;
    exited: Promise<void>;
    /** Why the probe itself calls this pinger in error (it ended early, it had to be killed). */
    early?: string;
}

const HEADER_WAIT_MS = 5000;
const SIGINT_WAIT_MS = 4000;
const STOP_ALL_WAIT_MS = 3000;
const live = new Set<Probe>();
let exitHooked = false;

const now = (): number => Date.now() / 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const running = (p: Pinger): boolean => p.child.pid !== undefined && p.child.exitCode === null && p.child.signalCode === null;

/** A pinger's log, or "" when there is none (the parser then calls the pair in error). */
export function readPingLog(file: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return "";
    }
}

function onPath(cmd: string): boolean {
    return (process.env.PATH ?? "").split(":").some((d) => {
        try {
            fs.accessSync(path.join(d || ".", cmd), fs.constants.X_OK);
            return true;
        } catch {
            return false;
        }
    });
}

/** Pids whose parent is `pid` (ping, under its `timeout`): to KILL what SIGINT did not end. */
function childrenOf(pid: number): number[] {
    const out: number[] = [];
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
            if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e));
        } catch {
            // it ended meanwhile
        }
    }
    return out;
}

function kill(pid: number | undefined, signal: NodeJS.Signals): void {
    if (pid === undefined) return;
    try {
        process.kill(pid, signal);
    } catch {
        // already gone
    }
}

/** KILL a pinger: ping first, then its `timeout` (which would otherwise outlive it for nothing). */
function killHard(p: Pinger): void {
    if (p.child.pid === undefined) return;
    for (const c of childrenOf(p.child.pid)) kill(c, "SIGKILL");
    kill(p.child.pid, "SIGKILL");
}

/** A pinger of <d>/<k> that runs and is the one its files describe (its command line names its pair). */
function runsElsewhere(d: string, k: string): boolean {
    try {
        const pid = fs.readFileSync(path.join(d, `${k}.pid`), "utf8").trim();
        const [src, dest] = fs
            .readFileSync(path.join(d, `${k}.pair`), "utf8")
            .trim()
            .split(" ");
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
        return cmd.includes(` netns exec ${src} ping `) && cmd.includes(` ${dest} `);
    } catch {
        return false;
    }
}

async function within(ms: number, done: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
}

export class Probe {
    private stopping?: Promise<PairResult[]>;

    private constructor(
        readonly name: string,
        readonly dir: string,
        private readonly startTs: number,
        private readonly pingers: Pinger[],
    ) {}

    static async start(name: string, pairs: readonly PingPair[], opts: ProbeOptions = {}): Promise<Probe> {
        if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`Probe.start: bad probe name '${name}'`);
        if (!pairs.length || pairs.some((p) => !p.src || !p.dest)) {
            throw new Error(`Probe.start ${name}: want {src, dest} pairs, got ${JSON.stringify(pairs)}`);
        }
        const intervalS = opts.intervalS ?? 0.1;
        const maxSeconds = opts.maxSeconds ?? 900;
        if (!(intervalS > 0) || !Number.isInteger(maxSeconds) || maxSeconds < 1) {
            throw new Error(`Probe.start ${name}: bad intervalS ${intervalS} or maxSeconds ${maxSeconds}`);
        }
        if (!onPath("ping")) throw new Error(`Probe.start ${name}: no ping (apt-get install iputils-ping)`);
        const d = path.join(opts.dir ?? path.join(process.env.E2E_LOG_DIR ?? os.tmpdir(), "probe"), name);
        if (fs.existsSync(d)) {
            const ks = fs.readdirSync(d).filter((f) => f.endsWith(".pair"));
            if (ks.some((f) => runsElsewhere(d, f.slice(0, -5)))) throw new Error(`probe ${name} is already running (${d})`);
        }
        fs.rmSync(d, { recursive: true, force: true });
        fs.mkdirSync(d, { recursive: true });
        if (!exitHooked) {
            // 'exit' handlers cannot wait: KILL at once whatever a test left running.
            process.on("exit", () => live.forEach((p) => p.pingers.filter(running).forEach(killHard)));
            exitHooked = true;
        }

        const startTs = now();
        const pingers = pairs.map(({ src, dest }, i): Pinger => {
            const k = i + 1;
            const log = path.join(d, `${k}.log`);
            fs.writeFileSync(path.join(d, `${k}.pair`), `${src} ${dest}\n`);
            const fd = fs.openSync(log, "w");
            // --foreground: our SIGINT reaches ping once, and ping stays in our process group.
            const args = ["--foreground", "-k", "5", String(maxSeconds + 10), "ip", "netns", "exec", src];
            args.push("ping", "-n", "-D", "-O", "-i", String(intervalS), "-W", "1", "-w", String(maxSeconds), dest);
            const child = spawn("timeout", args, { stdio: ["ignore", fd, fd] });
            fs.closeSync(fd);
            const exited = new Promise<string | undefined>((resolve) => {
                child.once("exit", () => resolve(undefined));
                child.once("error", (e) => resolve(`the pinger could not be started: ${e.message}`)); // no `timeout`, say
            });
            const p: Pinger = { k, src, dest, log, child, exited: exited.then((why) => void (p.early ??= why)) };
            if (child.pid !== undefined) fs.writeFileSync(path.join(d, `${k}.pid`), `${child.pid}\n`);
            return p;
        });
        const probe = new Probe(name, d, startTs, pingers);
        live.add(probe);

        // Wait (at most 5 s) for every pinger's "PING" header: the change must not begin before they send.
        const header = (p: Pinger): boolean => /^PING /m.test(readPingLog(p.log));
        const deadline = Date.now() + HEADER_WAIT_MS;
        await new Promise((r) => setImmediate(r)); // a spawn failure ('error') is reported on the next tick
        while (Date.now() < deadline && pingers.some((p) => running(p) && !header(p))) await sleep(50);
        const bad = pingers
            .filter((p) => !header(p))
            .map(
                (p) => `${p.src}->${p.dest}: ${(p.early ?? (readPingLog(p.log).slice(0, 300) || "no output")).replace(/\s+/g, " ").trim()}`,
            );
        if (bad.length) throw new ProbeStartError(`probe ${name}: did not start: ${bad.join("; ")}`, probe);
        return probe;
    }

    /** Pids of the pingers (their `timeout`), for checks that they ended. */
    get pids(): number[] {
        return this.pingers.flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid]));
    }

    /** Stops the pingers (SIGINT, then KILL after 4 s) and measures each pair. Idempotent. */
    stop(): Promise<PairResult[]> {
        this.stopping ??= this.doStop();
        return this.stopping;
    }

    private async doStop(): Promise<PairResult[]> {
        const stopTs = now();
        for (const p of this.pingers) {
            if (running(p)) p.child.kill("SIGINT");
            else p.early ??= "the pinger had ended before the probe was stopped";
        }
        await within(SIGINT_WAIT_MS, Promise.all(this.pingers.map((p) => p.exited))); // ping prints its summary
        const stuck = this.pingers.filter(running);
        for (const p of stuck) {
            killHard(p);
            p.early = "the pinger did not stop on SIGINT (killed)";
        }
        await within(1000, Promise.all(stuck.map((p) => p.exited)));
        live.delete(this);

        const results = this.pingers.map((p): PairResult => ({
            src: p.src,
            dest: p.dest,
            pair: `${p.src}->${p.dest}`,
            ...parsePingLog(readPingLog(p.log), { start: this.startTs, stop: stopTs, dest: p.dest, error: p.early }),
        }));
        const lines = results.map((r) => `probe ${this.name} pair=${r.pair} ${formatFigures(r)}`);
        fs.writeFileSync(path.join(this.dir, "result"), [...lines, summarize(this.name, results), ""].join("\n"));
        return results;
    }

    /** Stops the probe if needed; throws naming each pair over its bounds, with its figures; else the summary. */
    async assert(maxLost: number, maxGapMs: number): Promise<string> {
        const results = await this.stop();
        const problems = checkBounds(results, maxLost, maxGapMs);
        if (problems.length) throw new Error(`probe ${this.name} over its bounds: ${problems.join("; ")}`);
        return summarize(this.name, results);
    }

    /** SIGINT every pinger this process started and did not stop yet, KILL those left after 3 s; "name/k" of each. */
    static async stopAll(): Promise<string[]> {
        const hit = [...live].flatMap((pr) => pr.pingers.filter(running).map((p) => ({ pr, p })));
        live.clear();
        hit.forEach(({ p }) => p.child.kill("SIGINT"));
        await within(STOP_ALL_WAIT_MS, Promise.all(hit.map(({ p }) => p.exited)));
        hit.filter(({ p }) => running(p)).forEach(({ p }) => killHard(p));
        await within(1000, Promise.all(hit.map(({ p }) => p.exited)));
        return hit.map(({ pr, p }) => `${pr.name}/${p.k}`);
    }
}

/** Stops every pinger this process started and did not stop yet (for afterAll); names them ("name/k"). */
export const stopAllProbes = (): Promise<string[]> => Probe.stopAll();
