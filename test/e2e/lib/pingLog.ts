import * as ipaddr from "ipaddr.js";

/**
 * The figures of one traffic-probe pinger (probe.ts), from its log: what `ping -n -D -O ...` (Debian's
 * iputils) printed. Every reply and "no answer yet" line starts with a -D timestamp `[epoch.micro]`, and on
 * SIGINT (or at its -w deadline) ping ends with its summary (`N packets transmitted, M received, ...`).
 *
 * - received: distinct icmp_seq answered by `dest` (a "(DUP!)" reply counts in dup, never in received; a
 *   reply from another address counts in foreign). A late reply (after "no answer yet") counts.
 * - sent: packets ping transmitted (its summary; without one, the highest icmp_seq seen), less the one still
 *   in flight at the stop: the last packet, unanswered, for which ping had not yet printed "no answer yet"
 *   (with -O it prints that when it sends the next one, one interval later).
 * - lost = sent - received.
 * - maxGapMs: the longest time without a reply: between consecutive replies (by their timestamps, so
 *   out-of-order replies are fine), from `start` to the first reply and from the last reply to `stop`. With
 *   no reply at all it is the whole stop - start. start and stop default to the first and last timestamp in
 *   the log. maxGapAtMs: where that gap begins, from start.
 * - status "error" when ping never started (no "PING" header: a bad netns, a bad address), when it printed no
 *   summary (killed, or still running), or with `error` (the probe's own finding, e.g. it ended early).
 */
export interface PairFigures {
    status: "ok" | "error";
    sent: number;
    received: number;
    lost: number;
    dup: number;
    inFlight: number;
    errors: number;
    foreign: number;
    maxGapMs: number;
    maxGapAtMs: number;
    durationMs: number;
    /** Why status is "error"; whitespace collapsed to single spaces. */
    reason?: string;
}

/** One (source netns, destination) pair of a stopped probe. */
export interface PairResult extends PairFigures {
    src: string;
    dest: string;
    /** "SRC->DEST", the name problems and summaries use. */
    pair: string;
}

export interface ParseOptions {
    /** Epoch seconds the probe started and stopped (default: the log's first and last timestamp). */
    start?: number;
    stop?: number;
    /** Only replies from this address count (compared as addresses, so 2001:db8:0:0::2 is 2001:db8::2). */
    dest?: string;
    error?: string;
}

const TS = String.raw`^\[(?<ts>\d+(?:\.\d+)?)\]\s+`;
const REPLY = new RegExp(TS + String.raw`\d+ bytes from (?:\S+ \()?(?<src>[^\s()]+?)\)?: icmp_seq=(?<seq>\d+)\b(?<rest>.*)$`);
const NO_ANSWER = new RegExp(TS + String.raw`no answer yet for icmp_seq=(?<seq>\d+)`);
const ERROR_LINE = /^(?:\[\d+(?:\.\d+)?\]\s+)?(?:From \S+.*icmp_seq=\d+|ping: )/;
const ANY_TS = new RegExp(TS);
const HEADER = /^PING \S+/;
const SUMMARY = /^(?<tx>\d+) packets transmitted, (?<rx>\d+) received/;

/** An address in its canonical form (no zone), or the text itself when it is not one. */
function norm(addr: string): string {
    const a = addr.split("%")[0];
    // Four-part decimal only: ipaddr.parse would also take "127.1" or "0x7f.0.0.1", which ping never prints.
    if (ipaddr.IPv4.isValidFourPartDecimal(a)) return ipaddr.IPv4.parse(a).toString();
    if (ipaddr.IPv6.isValid(a)) return ipaddr.IPv6.parse(a).toString();
    return addr;
}

/** Rounds half to even, as Python's round() does, so figures match the bash-era reports to the ms. */
function roundHalfEven(x: number): number {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

export function parsePingLog(text: string, opts: ParseOptions = {}): PairFigures {
    const replies = new Map<number, number>(); // seq -> timestamp of its first (non-DUP) reply
    const noAnswer = new Set<number>();
    let dup = 0;
    let errors = 0;
    let foreign = 0;
    let maxSeq = 0;
    let header = false;
    let transmitted: number | undefined;
    let firstTs: number | undefined;
    let lastTs: number | undefined;
    let firstLine = "";
    const want = opts.dest ? norm(opts.dest) : undefined;

    for (const line of text.split(/\r\n|\r|\n/)) {
        if (!firstLine && line.trim()) firstLine = line.trim();
        const any = ANY_TS.exec(line);
        if (any) {
            const t = Number(any.groups!.ts);
            firstTs = firstTs === undefined ? t : Math.min(firstTs, t);
            lastTs = lastTs === undefined ? t : Math.max(lastTs, t);
        }
        if (HEADER.test(line)) {
            header = true;
            continue;
        }
        const sum = SUMMARY.exec(line);
        if (sum) {
            transmitted = Number(sum.groups!.tx); // ping may print it twice (two SIGINTs): same figures
            continue;
        }
        const rep = REPLY.exec(line);
        if (rep) {
            const seq = Number(rep.groups!.seq);
            if (want !== undefined && norm(rep.groups!.src) !== want) {
                foreign++;
                continue;
            }
            maxSeq = Math.max(maxSeq, seq);
            if (rep.groups!.rest.includes("(DUP!)") || replies.has(seq)) dup++;
            else replies.set(seq, Number(rep.groups!.ts));
            continue;
        }
        const na = NO_ANSWER.exec(line);
        if (na) {
            const seq = Number(na.groups!.seq);
            noAnswer.add(seq);
            maxSeq = Math.max(maxSeq, seq);
            continue;
        }
        if (ERROR_LINE.test(line)) errors++;
    }

    const tx = transmitted ?? maxSeq;
    const inFlight = tx > 0 && !replies.has(tx) && !noAnswer.has(tx) ? 1 : 0;
    const sent = tx - inFlight;
    const received = [...replies.keys()].filter((s) => s <= tx).length;
    const lost = Math.max(sent - received, 0);

    let start = opts.start ?? firstTs;
    let stop = opts.stop ?? lastTs;
    const times = [...replies.values()].sort((a, b) => a - b);
    if (start === undefined) {
        start = stop = 0; // an empty log and no start: nothing to measure
    }
    if (stop === undefined) stop = start;
    if (times.length) {
        start = Math.min(start, times[0]);
        stop = Math.max(stop, times[times.length - 1]);
    }
    const points = [start, ...times, stop];
    let gap = 0;
    let gapAt = 0;
    for (let i = 1; i < points.length; i++) {
        if (points[i] - points[i - 1] > gap) {
            gap = points[i] - points[i - 1];
            gapAt = points[i - 1] - start;
        }
    }

    const problems: string[] = [];
    if (!header) problems.push(`ping did not start: ${firstLine || "empty log"}`);
    else if (transmitted === undefined) problems.push("no summary from ping (killed, or still running)");
    if (opts.error) problems.push(opts.error);
    const figures: PairFigures = {
        status: problems.length ? "error" : "ok",
        sent,
        received,
        lost,
        dup,
        inFlight,
        errors,
        foreign,
        maxGapMs: roundHalfEven(gap * 1000),
        maxGapAtMs: roundHalfEven(gapAt * 1000),
        durationMs: roundHalfEven((stop - start) * 1000),
    };
    if (problems.length) figures.reason = problems.join("; ").split(/\s+/).filter(Boolean).join(" ");
    return figures;
}

/** The figures as one line of key=value fields, reason (when present) last: the bash-era probe's format. */
export function formatFigures(f: PairFigures): string {
    const line =
        `status=${f.status} sent=${f.sent} received=${f.received} lost=${f.lost} dup=${f.dup} in_flight=${f.inFlight} ` +
        `errors=${f.errors} foreign=${f.foreign} max_gap_ms=${f.maxGapMs} max_gap_at_ms=${f.maxGapAtMs} duration_ms=${f.durationMs}`;
    return f.reason === undefined ? line : `${line} reason=${f.reason}`;
}

/**
 * The problems of a stopped probe, one per pair over its bounds: in error (ping did not start, ended early,
 * gave no summary), sent nothing, lost more than maxLost packets or went more than maxGapMs without a reply.
 * No pair at all is a problem too: a probe that measured nothing proves nothing.
 */
export function checkBounds(results: readonly PairResult[], maxLost: number, maxGapMs: number): string[] {
    for (const [what, v] of [
        ["maxLost", maxLost],
        ["maxGapMs", maxGapMs],
    ] as const) {
        if (!Number.isInteger(v) || v < 0) throw new RangeError(`checkBounds: ${what} must be a whole number >= 0, got ${v}`);
    }
    const problems: string[] = [];
    for (const r of results) {
        if (r.status !== "ok") problems.push(`${r.pair}: ${r.reason ?? "error"}`);
        else if (r.sent <= 0) problems.push(`${r.pair}: sent nothing`);
        else if (r.lost > maxLost || r.maxGapMs > maxGapMs) {
            problems.push(`${r.pair}: sent ${r.sent}, lost ${r.lost} (max ${maxLost}), longest gap ${r.maxGapMs} ms (max ${maxGapMs})`);
        }
    }
    if (!results.length) problems.push("no pair measured");
    return problems;
}

/** "probe NAME: N pair(s) over X s: S sent, L lost, longest gap G ms (PAIR)[, E pair(s) in error]". */
export function summarize(name: string, results: readonly PairResult[]): string {
    let sent = 0;
    let lost = 0;
    let bad = 0;
    let gap = 0;
    let at = "";
    let dur = 0;
    for (const r of results) {
        sent += r.sent;
        lost += r.lost;
        if (r.status !== "ok") bad++;
        if (r.maxGapMs >= gap) {
            gap = r.maxGapMs; // >=: on a tie the later pair is named, as the bash-era summary did
            at = r.pair;
        }
        dur = Math.max(dur, r.durationMs);
    }
    const err = bad ? `, ${bad} pair(s) in error` : "";
    return `probe ${name}: ${results.length} pair(s) over ${(dur / 1000).toFixed(1)} s: ${sent} sent, ${lost} lost, longest gap ${gap} ms (${at})${err}`;
}
