import { stableJson } from "../components/builders/json";
import type { CheckResult } from "./types";

/** The table of checks (check, status, figures), then what is wrong and what to do for each check that is not a pass. */
export function renderTable(results: CheckResult[]): string {
    const rows = results.map((r) => [r.name, r.status.toUpperCase(), r.figures]);
    const w0 = Math.max(5, ...rows.map((r) => r[0]!.length));
    const w1 = Math.max(6, ...rows.map((r) => r[1]!.length));
    const line = (c: string[]) => `${c[0]!.padEnd(w0)}  ${c[1]!.padEnd(w1)}  ${c[2]}`.trimEnd();
    const out = [line(["check", "status", "figures"]), line(["-".repeat(w0), "-".repeat(w1), "-------"]), ...rows.map(line)];
    for (const r of results) {
        if (r.status === "pass" || r.status === "skip" || (r.details.length === 0 && !r.fix)) continue;
        out.push("", `${r.name}: ${r.status}`);
        for (const d of r.details) out.push(`  - ${d}`);
        if (r.fix) out.push(`  fix: ${r.fix}`);
    }
    const count = (s: string) => results.filter((r) => r.status === s).length;
    out.push("", `verify: ${count("pass")} passed, ${count("fail")} failed, ${count("warn")} warned, ${count("skip")} skipped`);
    return out.join("\n");
}

export function renderJson(stack: string, results: CheckResult[]): string {
    return stableJson({ ok: exitCode(results) === 0, stack, checks: results });
}

/** Non-zero on any failure; warnings and skips pass. */
export function exitCode(results: CheckResult[]): number {
    return results.some((r) => r.status === "fail") ? 1 : 0;
}
