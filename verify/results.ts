/** What a probe pod reports in its termination message (verify/probeScript.ts writes it). */

export interface PingEntry {
    k: "ping";
    to: string;
    ip: string;
    tx: number | null;
    rx: number | null;
    /** Average round trip, ms. */
    ms: number | null;
    err: string;
}
export interface DfEntry {
    k: "df";
    to: string;
    ip: string;
    size: number;
    tx: number | null;
    rx: number | null;
    err: string;
}
export interface IperfEntry {
    k: "iperf";
    to: string;
    ip: string;
    mbps: number | null;
    err: string;
}
export interface HttpEntry {
    k: "http";
    to: string;
    ip: string;
    /** Requests answered with 200, and their total time in seconds (one after another). */
    n: number | null;
    s: number | null;
    err: string;
}
export interface TyphaEntry {
    k: "typha";
    felix: number | null;
    err: string;
}
export type Entry = PingEntry | DfEntry | IperfEntry | HttpEntry | TyphaEntry;

export type Parsed = { ok: true; entries: Entry[] } | { ok: false; error: string };

/** The number fields of each kind; one the script could not measure is null. */
const FIELDS: Record<string, string[]> = {
    ping: ["tx", "rx", "ms"],
    df: ["size", "tx", "rx"],
    iperf: ["mbps"],
    http: ["n", "s"],
    typha: ["felix"],
};

/** The termination message of a probe; anything else (a log tail under FallbackToLogsOnError) is the error. */
export function parseProbeMessage(text: string): Parsed {
    let v: unknown;
    try {
        v = JSON.parse(text);
    } catch {
        if (text.startsWith('{"v":1'))
            return {
                ok: false,
                error: "the result was cut at the 4 KiB termination message limit; lower verify.sampleNodes (or --sample)",
            };
        return { ok: false, error: text.trim().split("\n").slice(-3).join(" | ").slice(0, 300) || "empty termination message" };
    }
    const r = (v as { v?: unknown; r?: unknown }) ?? {};
    if (r.v !== 1 || !Array.isArray(r.r)) return { ok: false, error: "termination message is not a verify probe result" };
    const entries = (r.r as Record<string, unknown>[]).filter((e) => String(e.k) in FIELDS);
    for (const e of entries) {
        if (typeof e.err !== "string") e.err = "";
        for (const f of FIELDS[String(e.k)]!) if (typeof e[f] !== "number") e[f] = null;
    }
    return { ok: true, entries: entries as unknown as Entry[] };
}
