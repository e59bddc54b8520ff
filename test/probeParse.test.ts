import * as os from "os";
import * as path from "path";
import {
    checkBounds,
    formatFigures,
    parsePingLog,
    summarize,
    type PairFigures,
    type PairResult,
    type ParseOptions,
} from "./e2e/lib/pingLog";
import { readPingLog } from "./e2e/lib/probe";

// The traffic probe's parser and bounds (test/e2e/lib/pingLog.ts) on canned `ping -n -D -O` logs, each with
// the figures it must give.

const HDR = "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.";
const STATS = "--- 198.18.0.2 ping statistics ---";
const reply = (ts: string, seq: number, src = "198.18.0.2", rest = "ttl=64 time=0.1 ms"): string =>
    `[${ts}] 64 bytes from ${src}: icmp_seq=${seq} ${rest}`;
const noAnswer = (ts: string, seq: number): string => `[${ts}] no answer yet for icmp_seq=${seq}`;
const lines = (...l: string[]): string => l.join("\n") + "\n";
const seqs = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Seq k sent at 100.0 + 0.1 (k-1); 3 answered late (after 4), 5-8 lost, a DUP of 4 in the middle of the outage
// (must not shorten the gap), a reply from another address, an ICMP error, 10 in flight at stop.
const MIXED = lines(
    HDR,
    reply("100.000100", 1, undefined, "ttl=64 time=0.05 ms"),
    reply("100.100100", 2, undefined, "ttl=64 time=0.05 ms"),
    reply("100.100200", 2, undefined, "ttl=64 time=0.06 ms (DUP!)"),
    noAnswer("100.300000", 3),
    reply("100.300100", 4, undefined, "ttl=64 time=0.05 ms"),
    reply("100.350000", 3, undefined, "ttl=64 time=150 ms"),
    noAnswer("100.500000", 5),
    noAnswer("100.600000", 6),
    reply("100.600100", 4, undefined, "ttl=64 time=300 ms (DUP!)"),
    "[100.650000] From 198.18.0.1 icmp_seq=5 Destination Host Unreachable",
    noAnswer("100.700000", 7),
    reply("100.700100", 7, "198.18.0.9", "ttl=64 time=0.05 ms"),
    noAnswer("100.800000", 8),
    reply("100.800100", 9, undefined, "ttl=64 time=0.05 ms"),
    STATS,
    "10 packets transmitted, 5 received, +2 duplicates, +1 errors, 50% packet loss, time 900ms",
);
// A destination that never answers: 30 sent over 3 s, 29 "no answer yet", the 30th in flight.
const DEAD = lines(
    "PING 198.18.1.1 (198.18.1.1) 56(84) bytes of data.",
    ...seqs(1, 29).map((s) => noAnswer((10 + 0.1 * s).toFixed(6), s)),
    "--- 198.18.1.1 ping statistics ---",
    "30 packets transmitted, 0 received, 100% packet loss, time 2900ms",
);
// ENOBUFS backoff: ping repeats "no answer yet" for the same seq without sending; 3 is lost, not in flight.
const REPEAT = lines(
    HDR,
    reply("1.0", 1),
    reply("1.1", 2),
    noAnswer("1.3", 3),
    noAnswer("1.4", 3),
    noAnswer("1.5", 3),
    STATS,
    "3 packets transmitted, 2 received, 33.3333% packet loss, time 500ms",
);
// Replies only from 0.8 s on (seq 8-10): the gap from the start to the first reply counts.
const LATE = lines(
    HDR,
    ...seqs(1, 7).map((s) => noAnswer((5 + 0.1 * s).toFixed(6), s)),
    ...[8, 9, 10].map((s) => reply((5 + 0.1 * (s - 1)).toFixed(6), s)),
    STATS,
    "10 packets transmitted, 3 received, 70% packet loss, time 900ms",
);
const V6 = lines(
    "PING 2001:db8::2(2001:db8::2) 56 data bytes",
    reply("1.0", 1, "2001:db8::2"),
    "--- 2001:db8::2 ping statistics ---",
    "1 packets transmitted, 1 received, 0% packet loss, time 0ms",
);
const ZERO = "dup=0 in_flight=0 errors=0 foreign=0";

describe.each<[string, string, ParseOptions, string]>([
    [
        "DUP, out-of-order, late, foreign, error, in flight",
        MIXED,
        { start: 100.0, stop: 100.95, dest: "198.18.0.2" },
        "status=ok sent=9 received=5 lost=4 dup=2 in_flight=1 errors=1 foreign=1 max_gap_ms=450 max_gap_at_ms=350 duration_ms=950",
    ],
    [
        "without dest every reply counts (the foreign one shortens the outage)",
        MIXED,
        { start: 100.0, stop: 100.95 },
        "status=ok sent=9 received=6 lost=3 dup=2 in_flight=1 errors=1 foreign=0 max_gap_ms=350 max_gap_at_ms=350 duration_ms=950",
    ],
    [
        "an empty log is an error, its gap the whole duration",
        "",
        { start: 10, stop: 13, dest: "198.18.0.2" },
        `status=error sent=0 received=0 lost=0 ${ZERO} max_gap_ms=3000 max_gap_at_ms=0 duration_ms=3000 reason=ping did not start: empty log`,
    ],
    [
        "never answered: all lost, gap = duration",
        DEAD,
        { start: 10, stop: 13, dest: "198.18.1.1" },
        "status=ok sent=29 received=0 lost=29 dup=0 in_flight=1 errors=0 foreign=0 max_gap_ms=3000 max_gap_at_ms=0 duration_ms=3000",
    ],
    [
        "repeated 'no answer yet' for one seq: lost, not in flight",
        REPEAT,
        { start: 1.0, stop: 1.6, dest: "198.18.0.2" },
        `status=ok sent=3 received=2 lost=1 ${ZERO} max_gap_ms=500 max_gap_at_ms=100 duration_ms=600`,
    ],
    [
        "the gap from the start to the first reply counts",
        LATE,
        { start: 5.0, stop: 5.95, dest: "198.18.0.2" },
        `status=ok sent=10 received=3 lost=7 ${ZERO} max_gap_ms=700 max_gap_at_ms=0 duration_ms=950`,
    ],
    [
        "a bad netns is an error",
        'Cannot open network namespace "prbtest-x": No such file or directory\n',
        { start: 1, stop: 2, dest: "198.18.0.2" },
        `status=error sent=0 received=0 lost=0 ${ZERO} max_gap_ms=1000 max_gap_at_ms=0 duration_ms=1000 ` +
            'reason=ping did not start: Cannot open network namespace "prbtest-x": No such file or directory',
    ],
    [
        "no summary is an error",
        lines(HDR, reply("1.0", 1)),
        { start: 1.0, stop: 1.05, dest: "198.18.0.2" },
        `status=error sent=1 received=1 lost=0 ${ZERO} max_gap_ms=50 max_gap_at_ms=0 duration_ms=50 reason=no summary from ping (killed, or still running)`,
    ],
    [
        "an IPv6 destination is compared as an address",
        V6,
        { start: 1.0, stop: 1.1, dest: "2001:db8:0:0::2" },
        `status=ok sent=1 received=1 lost=0 ${ZERO} max_gap_ms=100 max_gap_at_ms=0 duration_ms=100`,
    ],
    // Replies out of the ordinary.
    [
        "a reply naming a host before its address",
        lines(
            HDR,
            reply("1.0", 1, "b.example (198.18.0.2)"),
            reply("1.1", 2, "b.example (198.18.0.2)"),
            STATS,
            "2 packets transmitted, 2 received",
        ),
        { start: 1.0, stop: 1.2, dest: "198.18.0.2" },
        `status=ok sent=2 received=2 lost=0 ${ZERO} max_gap_ms=100 max_gap_at_ms=0 duration_ms=200`,
    ],
    [
        "the probe's own error follows ping's, whitespace collapsed",
        lines(HDR, reply("1.0", 1)),
        { start: 1.0, stop: 1.05, dest: "198.18.0.2", error: "the pinger  did\tnot\nstop" },
        `status=error sent=1 received=1 lost=0 ${ZERO} max_gap_ms=50 max_gap_at_ms=0 duration_ms=50 ` +
            "reason=no summary from ping (killed, or still running); the pinger did not stop",
    ],
    [
        "start and stop default to the log's first and last timestamp; a repeated summary counts once",
        lines(
            HDR,
            reply("2.0", 1),
            noAnswer("2.1", 2),
            noAnswer("2.2", 3),
            reply("2.3", 4),
            STATS,
            "4 packets transmitted, 2 received",
            "4 packets transmitted, 2 received",
        ),
        { dest: "198.18.0.2" },
        `status=ok sent=4 received=2 lost=2 ${ZERO} max_gap_ms=300 max_gap_at_ms=0 duration_ms=300`,
    ],
    [
        "a DUP of a seq never answered otherwise is no reply",
        lines(
            HDR,
            reply("1.0", 1, undefined, "ttl=64 time=0.1 ms (DUP!)"),
            reply("1.1", 2),
            STATS,
            "2 packets transmitted, 1 received, +1 duplicates",
        ),
        { start: 1.0, stop: 1.2, dest: "198.18.0.2" },
        "status=ok sent=2 received=1 lost=1 dup=1 in_flight=0 errors=0 foreign=0 max_gap_ms=100 max_gap_at_ms=0 duration_ms=200",
    ],
    [
        "a link-local destination: the zone is not part of the address",
        lines(
            "PING fe80::2%va(fe80::2%va) 56 data bytes",
            reply("1.0", 1, "fe80::2%va"),
            "--- fe80::2%va ping statistics ---",
            "1 packets transmitted, 1 received",
        ),
        { start: 1.0, stop: 1.1, dest: "FE80:0::2%va" },
        `status=ok sent=1 received=1 lost=0 ${ZERO} max_gap_ms=100 max_gap_at_ms=0 duration_ms=100`,
    ],
    [
        "CRLF lines; ICMP errors and ping's own complaints count in errors",
        [
            HDR,
            reply("1.0", 1),
            "[1.2] From 198.18.0.1 icmp_seq=2 Destination Host Unreachable",
            "ping: sendmsg: Network is unreachable",
            noAnswer("1.3", 3),
            STATS,
            "3 packets transmitted, 1 received, +1 errors, 66.6667% packet loss, time 200ms",
        ].join("\r\n"),
        { start: 1.0, stop: 1.35, dest: "198.18.0.2" },
        "status=ok sent=3 received=1 lost=2 dup=0 in_flight=0 errors=2 foreign=0 max_gap_ms=350 max_gap_at_ms=0 duration_ms=350",
    ],
    [
        "a bad address: the first non-blank line is the reason",
        "\n  \nping: nosuch.invalid: Name or service not known\n",
        { start: 1, stop: 2, dest: "nosuch.invalid" },
        "status=error sent=0 received=0 lost=0 dup=0 in_flight=0 errors=1 foreign=0 max_gap_ms=1000 max_gap_at_ms=0 duration_ms=1000 " +
            "reason=ping did not start: ping: nosuch.invalid: Name or service not known",
    ],
    [
        "an empty log without a start measures nothing, even with a stop",
        "",
        { stop: 5 },
        `status=error sent=0 received=0 lost=0 ${ZERO} max_gap_ms=0 max_gap_at_ms=0 duration_ms=0 reason=ping did not start: empty log`,
    ],
    [
        "a reply past the summary's count is not received",
        lines(HDR, reply("1.0", 1), reply("1.1", 2), STATS, "1 packets transmitted, 1 received"),
        { start: 1.0, stop: 1.2, dest: "198.18.0.2" },
        `status=ok sent=1 received=1 lost=0 ${ZERO} max_gap_ms=100 max_gap_at_ms=0 duration_ms=200`,
    ],
    [
        "replies outside start..stop widen the window",
        lines(HDR, reply("0.5", 1), reply("3.0", 2), STATS, "2 packets transmitted, 2 received"),
        { start: 1.0, stop: 2.0, dest: "198.18.0.2" },
        `status=ok sent=2 received=2 lost=0 ${ZERO} max_gap_ms=2500 max_gap_at_ms=0 duration_ms=2500`,
    ],
    [
        "of equal gaps the first is named",
        lines(HDR, reply("1.0", 1), reply("1.5", 2), reply("2.0", 3), STATS, "3 packets transmitted, 3 received"),
        { start: 1.0, stop: 2.25, dest: "198.18.0.2" },
        `status=ok sent=3 received=3 lost=0 ${ZERO} max_gap_ms=500 max_gap_at_ms=0 duration_ms=1250`,
    ],
    [
        "milliseconds round half to even, as Python did (2.5 -> 2, 3.5 -> 4)",
        lines(HDR, reply("0.0025", 1), STATS, "1 packets transmitted, 1 received"),
        { start: 0, stop: 0.0035, dest: "198.18.0.2" },
        `status=ok sent=1 received=1 lost=0 ${ZERO} max_gap_ms=2 max_gap_at_ms=0 duration_ms=4`,
    ],
])("parsePingLog: %s", (_what, log, opts, want) => {
    test("gives its figures", () => {
        expect(formatFigures(parsePingLog(log, opts))).toBe(want);
    });
});

describe("readPingLog", () => {
    test("a missing log reads as empty, which the parser calls an error", () => {
        const text = readPingLog(path.join(os.tmpdir(), `no-such-probe-${process.pid}`, "1.log"));
        expect(text).toBe("");
        expect(parsePingLog(text, { start: 10, stop: 11 })).toMatchObject({ status: "error", reason: "ping did not start: empty log" });
    });
});

const ok: PairFigures = {
    status: "ok",
    sent: 30,
    received: 30,
    lost: 0,
    dup: 0,
    inFlight: 0,
    errors: 0,
    foreign: 0,
    maxGapMs: 104,
    maxGapAtMs: 6,
    durationMs: 3035,
};
const result = (src: string, dest: string, f: Partial<PairFigures> = {}): PairResult => ({
    ...ok,
    ...f,
    src,
    dest,
    pair: `${src}->${dest}`,
});
const A = "prbtest-1-a";
const B = "prbtest-1-b";
const BAD_NS = 'ping did not start: Cannot open network namespace "prbtest-1-nosuch": No such file or directory';

describe.each<[string, PairResult[], number, number, string[]]>([
    ["undisturbed pairs are within 0 lost, 300 ms", [result(A, "198.18.0.2"), result(B, "198.18.0.1")], 0, 300, []],
    [
        "loss and gap over their bounds, with the figures",
        [result(A, "198.18.0.2", { received: 20, lost: 10, maxGapMs: 1144 })],
        0,
        300,
        [`${A}->198.18.0.2: sent 30, lost 10 (max 0), longest gap 1144 ms (max 300)`],
    ],
    ["the same pair within looser bounds", [result(A, "198.18.0.2", { received: 20, lost: 10, maxGapMs: 1144 })], 20, 2000, []],
    [
        "a gap alone is over the bounds",
        [result(A, "198.18.0.2", { maxGapMs: 1116 })],
        1000,
        300,
        [`${A}->198.18.0.2: sent 30, lost 0 (max 1000), longest gap 1116 ms (max 300)`],
    ],
    ["exactly at the bounds is within", [result(A, "198.18.0.2", { lost: 3, received: 27, maxGapMs: 300 })], 3, 300, []],
    [
        "a pair in error fails whatever the bounds, with its reason",
        [
            result(A, "198.18.0.2", { sent: 6, received: 6 }),
            result("prbtest-1-nosuch", "198.18.0.2", { status: "error", sent: 0, reason: BAD_NS }),
        ],
        1000000,
        1000000,
        [`prbtest-1-nosuch->198.18.0.2: ${BAD_NS}`],
    ],
    [
        "a pair that sent nothing fails",
        [result(A, "198.18.0.2", { sent: 0, received: 0, maxGapMs: 50 })],
        1000,
        100000,
        [`${A}->198.18.0.2: sent nothing`],
    ],
    ["no pair at all fails", [], 1000, 100000, ["no pair measured"]],
])("checkBounds: %s", (_what, results, maxLost, maxGap, want) => {
    test("gives one problem per pair over its bounds", () => {
        expect(checkBounds(results, maxLost, maxGap)).toEqual(want);
    });
});

describe("checkBounds on a parsed log", () => {
    test("names the pair with the parser's figures", () => {
        const r: PairResult = {
            src: A,
            dest: "198.18.0.2",
            pair: `${A}->198.18.0.2`,
            ...parsePingLog(MIXED, { start: 100, stop: 100.95, dest: "198.18.0.2" }),
        };
        expect(checkBounds([r], 0, 300)).toEqual([`${A}->198.18.0.2: sent 9, lost 4 (max 0), longest gap 450 ms (max 300)`]);
        expect(checkBounds([r], 4, 450)).toEqual([]);
    });
    test.each([
        [-1, 300],
        [0, 1.5],
        [Number.NaN, 300],
    ])("rejects bounds %p, %p", (lost, gap) => {
        expect(() => checkBounds([], lost, gap)).toThrow(RangeError);
    });
});

describe.each<[string, string, PairResult[], string]>([
    [
        "a tie names the later pair (as the bash-era total did)",
        "base",
        [result(A, "198.18.0.2"), result(B, "198.18.0.1"), result(A, "2001:db8:18::2")],
        `probe base: 3 pair(s) over 3.0 s: 90 sent, 0 lost, longest gap 104 ms (${A}->2001:db8:18::2)`,
    ],
    [
        "pairs in error are counted",
        "mixed",
        [
            result(A, "198.18.0.2", { sent: 6, received: 6, maxGapMs: 104, durationMs: 533 }),
            result("prbtest-1-nosuch", "198.18.0.2", {
                status: "error",
                sent: 0,
                received: 0,
                maxGapMs: 533,
                durationMs: 533,
                reason: BAD_NS,
            }),
        ],
        "probe mixed: 2 pair(s) over 0.5 s: 6 sent, 0 lost, longest gap 533 ms (prbtest-1-nosuch->198.18.0.2), 1 pair(s) in error",
    ],
    [
        "the longest gap and duration over all pairs",
        "down",
        [
            result(A, "198.18.0.2", { lost: 10, received: 20, maxGapMs: 1144, durationMs: 3027 }),
            result(B, "198.18.0.1", { durationMs: 3139 }),
        ],
        `probe down: 2 pair(s) over 3.1 s: 60 sent, 10 lost, longest gap 1144 ms (${A}->198.18.0.2)`,
    ],
    ["no pair", "none", [], "probe none: 0 pair(s) over 0.0 s: 0 sent, 0 lost, longest gap 0 ms ()"],
])("summarize: %s", (_what, name, results, want) => {
    test("gives the total line", () => {
        expect(summarize(name, results)).toBe(want);
    });
});
