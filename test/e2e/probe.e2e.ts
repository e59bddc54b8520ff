import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { formatFigures, type PairResult } from "./lib/pingLog";
import { Probe, ProbeStartError, stopAllProbes } from "./lib/probe";

// Self-test of the traffic probe (lib/probe.ts) without the Calico sandbox: real pingers between two throwaway
// network namespaces joined by a veth (prbtest-<pid>-a 198.18.0.1 / 2001:db8:18::1, prbtest-<pid>-b .2 / ::2;
// RFC 2544 and documentation ranges, on no other interface). Needs root and `ip netns`; ~25 s.

const A = `prbtest-${process.pid}-a`;
const B = `prbtest-${process.pid}-b`;
const NOSUCH = `prbtest-${process.pid}-nosuch`;
const [A4, B4, A6, B6] = ["198.18.0.1", "198.18.0.2", "2001:db8:18::1", "2001:db8:18::2"];
const DEAD = "198.18.1.1"; // routed from a to b, which blackholes it: never answered
const CASE_MS = 60_000;
let T = "";
let dir = "";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ip = (...args: string[]): void => void execFileSync("ip", args, { stdio: "pipe" });
const tryIp = (...args: string[]): boolean => spawnSync("ip", args, { stdio: "ignore" }).status === 0;
/** A process still running (a zombie has an empty command line). */
const alive = (pid: number): boolean => {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").length > 0;
    } catch {
        return false;
    }
};

function netDown(): void {
    tryIp("netns", "del", A);
    tryIp("netns", "del", B);
}

/** A fresh pair of namespaces: each disturbing case starts from it (a link down drops routes). */
function netUp(): void {
    netDown();
    ip("netns", "add", A);
    ip("netns", "add", B);
    ip("link", "add", "va", "netns", A, "type", "veth", "peer", "name", "vb", "netns", B);
    ip("-n", A, "addr", "add", `${A4}/29`, "dev", "va");
    ip("-n", B, "addr", "add", `${B4}/29`, "dev", "vb");
    ip("-n", A, "addr", "add", `${A6}/64`, "dev", "va", "nodad");
    ip("-n", B, "addr", "add", `${B6}/64`, "dev", "vb", "nodad");
    for (const [ns, dev] of [
        [A, "va"],
        [B, "vb"],
    ]) {
        ip("-n", ns, "link", "set", "lo", "up");
        ip("-n", ns, "link", "set", dev, "up");
    }
    ip("-n", A, "route", "add", "198.18.1.0/24", "via", B4);
    ip("-n", B, "route", "add", "blackhole", "198.18.1.0/24");
    // Steady state before measuring: the first IPv6 packet waits ~1 s for neighbour discovery (the link-local
    // address is still tentative), which the probe would rightly report as a gap.
    const once = (ns: string, to: string): boolean =>
        spawnSync("ip", ["netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", to], { stdio: "ignore", timeout: 3000 }).status ===
        0;
    for (let i = 0; i < 10; i++) if (once(A, B6) && once(B, A6) && once(A, B4)) return;
    throw new Error(`namespaces ${A}/${B} never reached a steady state`);
}

function pairOf(results: PairResult[], src: string, dest: string): PairResult {
    const r = results.find((x) => x.src === src && x.dest === dest);
    if (!r) throw new Error(`no pair ${src}->${dest} in ${results.map((x) => x.pair).join(", ")}`);
    return r;
}
/** The figures in the test's output, as evidence of what each case measured. */
function show(name: string, results: PairResult[]): void {
    console.log(results.map((r) => `probe ${name} pair=${r.pair} ${formatFigures(r)}`).join("\n"));
}
/** The error a promise rejects with (or a failure when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
    const e = await p.then(
        () => undefined,
        (err: unknown) => err,
    );
    if (!(e instanceof Error)) throw new Error("expected a rejection, got a result");
    return e;
}

beforeAll(() => {
    if (process.getuid?.() !== 0 || !tryIp("netns", "list")) throw new Error("the probe's self-test needs root and ip netns");
    if (spawnSync("ping", ["-V"], { stdio: "ignore" }).status !== 0) {
        const apt = (args: string[]): void =>
            void execFileSync("apt-get", args, { stdio: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
        apt(["update", "-qq"]);
        apt(["install", "-y", "-qq", "iputils-ping"]);
    }
    // Namespaces of a killed earlier run (its pid is gone).
    for (const ns of execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n")) {
        const m = /^(prbtest-(\d+)-\S+)/.exec(ns);
        if (m && !fs.existsSync(`/proc/${m[2]}`)) tryIp("netns", "del", m[1]);
    }
    T = fs.mkdtempSync(path.join(os.tmpdir(), "probe-e2e."));
    dir = path.join(T, "probe");
    netUp();
});

afterAll(async () => {
    await stopAllProbes();
    netDown();
    if (T) fs.rmSync(T, { recursive: true, force: true });
});

test(
    "undisturbed, three pairs (both directions and IPv6): nothing lost, no gap over 300 ms",
    async () => {
        const probe = await Probe.start(
            "base",
            [
                { src: A, dest: B4 },
                { src: B, dest: A4 },
                { src: A, dest: B6 },
            ],
            { dir },
        );
        await sleep(3000);
        const results = await probe.stop();
        show("base", results);
        for (const r of results) {
            expect(r).toMatchObject({ status: "ok", lost: 0 });
            expect(r.sent).toBeGreaterThanOrEqual(25);
            expect(r.maxGapMs).toBeLessThan(300);
        }
        expect(await probe.assert(0, 300)).toMatch(
            /^probe base: 3 pair\(s\) over 3\.\d s: \d+ sent, 0 lost, longest gap \d+ ms \(prbtest-/,
        );
    },
    CASE_MS,
);

test(
    "the sender's link down ~1 s: packets dropped at the sender, the pair and figures named",
    async () => {
        netUp();
        const probe = await Probe.start("down", [{ src: A, dest: B4 }], { dir });
        await sleep(1000);
        ip("-n", A, "link", "set", "va", "down");
        await sleep(1000);
        ip("-n", A, "link", "set", "va", "up");
        await sleep(1000);
        const results = await probe.stop();
        show("down", results);
        const r = pairOf(results, A, B4);
        expect(r.lost).toBeGreaterThanOrEqual(5);
        expect(r.maxGapMs).toBeGreaterThanOrEqual(900);
        const e = await rejection(probe.assert(0, 300));
        expect(e.message).toBe(
            `probe down over its bounds: ${A}->${B4}: sent ${r.sent}, lost ${r.lost} (max 0), longest gap ${r.maxGapMs} ms (max 300)`,
        );
        expect(await probe.assert(20, 2000)).toContain("probe down: 1 pair(s)");
    },
    CASE_MS,
);

test(
    "the receiver's link down ~1 s: requests are queued, not lost, but the gap shows",
    async () => {
        netUp();
        const probe = await Probe.start("stall", [{ src: A, dest: B4 }], { dir });
        await sleep(1000);
        ip("-n", B, "link", "set", "vb", "down");
        await sleep(1000);
        ip("-n", B, "link", "set", "vb", "up");
        await sleep(1000);
        const results = await probe.stop();
        show("stall", results);
        expect(pairOf(results, A, B4).maxGapMs).toBeGreaterThanOrEqual(900);
        expect((await rejection(probe.assert(1000, 300))).message).toMatch(/longest gap \d+ ms \(max 300\)$/);
    },
    CASE_MS,
);

test(
    "a destination that never answers: all lost, the gap is the whole duration",
    async () => {
        netUp();
        const probe = await Probe.start("dead", [{ src: A, dest: DEAD }], { dir });
        await sleep(3000);
        const results = await probe.stop();
        show("dead", results);
        const r = pairOf(results, A, DEAD);
        expect(r.sent).toBeGreaterThanOrEqual(20);
        expect(r).toMatchObject({ status: "ok", received: 0, lost: r.sent, maxGapMs: r.durationMs });
        expect(r.durationMs).toBeGreaterThanOrEqual(2900);
        expect((await rejection(probe.assert(20, 2000))).message).toContain(`${A}->${DEAD}: sent ${r.sent}, lost ${r.sent} (max 20)`);
    },
    CASE_MS,
);

test(
    "a source netns that does not exist, next to a good pair: start says so, never a pass",
    async () => {
        const e = await rejection(
            Probe.start(
                "mixed",
                [
                    { src: A, dest: B4 },
                    { src: NOSUCH, dest: B4 },
                ],
                { dir },
            ),
        );
        expect(e).toBeInstanceOf(ProbeStartError);
        expect(e.message).toContain(`probe mixed: did not start: ${NOSUCH}->${B4}: Cannot open network namespace "${NOSUCH}"`);
        const probe = (e as ProbeStartError).probe;
        await sleep(500);
        const results = await probe.stop();
        show("mixed", results);
        expect(pairOf(results, A, B4).status).toBe("ok");
        expect(pairOf(results, NOSUCH, B4).status).toBe("error");
        expect((await rejection(probe.assert(1000000, 1000000))).message).toContain(`${NOSUCH}->${B4}: ping did not start`);
    },
    CASE_MS,
);

test(
    "the hard bound: with maxSeconds 1 the pinger ends by itself, and the probe calls that an error",
    async () => {
        const probe = await Probe.start("short", [{ src: A, dest: B4 }], { dir, maxSeconds: 1 });
        const [pid] = probe.pids;
        await sleep(2500);
        expect(alive(pid)).toBe(false);
        const e = await rejection(probe.assert(1000, 100000));
        show("short", await probe.stop());
        expect(e.message).toBe(`probe short over its bounds: ${A}->${B4}: the pinger had ended before the probe was stopped`);
    },
    CASE_MS,
);

test(
    "stopAllProbes stops every pinger still running",
    async () => {
        const left1 = await Probe.start("left1", [{ src: A, dest: B4 }], { dir });
        const left2 = await Probe.start(
            "left2",
            [
                { src: B, dest: A4 },
                { src: B, dest: A6 },
            ],
            { dir },
        );
        const pids = [...left1.pids, ...left2.pids];
        expect(pids.filter(alive)).toHaveLength(3);
        expect(await stopAllProbes()).toEqual(expect.arrayContaining(["left1/1", "left2/1", "left2/2"]));
        expect(pids.filter(alive)).toEqual([]);
        // Stopping such a probe afterwards still measures it, and calls it in error.
        const r = pairOf(await left1.stop(), A, B4);
        show("left1", [r]);
        expect(r).toMatchObject({ status: "error", reason: "the pinger had ended before the probe was stopped" });
        expect(await stopAllProbes()).toEqual([]);
    },
    CASE_MS,
);

test(
    "a probe name in use is refused; stop is idempotent; logs go to $E2E_LOG_DIR/probe by default",
    async () => {
        const saved = process.env.E2E_LOG_DIR;
        process.env.E2E_LOG_DIR = path.join(T, "logs");
        try {
            const probe = await Probe.start("twice", [{ src: A, dest: B4 }]);
            const d = path.join(T, "logs", "probe", "twice");
            expect(probe.dir).toBe(d);
            expect((await rejection(Probe.start("twice", [{ src: B, dest: A4 }]))).message).toBe(`probe twice is already running (${d})`);
            await sleep(1000);
            const results = await probe.stop();
            show("twice", results);
            expect(await probe.stop()).toBe(results);
            const r = pairOf(results, A, B4);
            expect(r.received).toBeGreaterThanOrEqual(8);
            expect(r.lost).toBe(0);
            const total = await probe.assert(0, 300);
            expect(total).toMatch(
                new RegExp(`^probe twice: 1 pair\\(s\\) over 1\\.\\d s: ${r.sent} sent, 0 lost, longest gap \\d+ ms \\(${A}->${B4}\\)$`),
            );
            expect(fs.readFileSync(path.join(d, "1.log"), "utf8")).toMatch(/^PING 198\.18\.0\.2 /);
            expect(fs.readFileSync(path.join(d, "result"), "utf8")).toContain(total);
        } finally {
            if (saved === undefined) delete process.env.E2E_LOG_DIR;
            else process.env.E2E_LOG_DIR = saved;
        }
    },
    CASE_MS,
);

test("nothing of ours is left running (no `timeout` naming our namespaces, no process inside them)", () => {
    const inode = (ns: string): string => `net:[${fs.statSync(`/run/netns/${ns}`).ino}]`;
    const ours = new Set([inode(A), inode(B)]);
    const left: string[] = [];
    for (const e of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
        try {
            const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").join(" ");
            if (cmd.includes(`netns exec prbtest-${process.pid}-`) || (cmd && ours.has(fs.readlinkSync(`/proc/${e}/ns/net`))))
                left.push(`${e}: ${cmd}`);
        } catch {
            // it ended meanwhile
        }
    }
    expect(left).toEqual([]);
});
