import * as fs from "fs";
import * as path from "path";

export interface Row {
    style: string;
    check: string;
    title: string;
    result: "pass" | "FAIL";
    seconds: number;
    lines: string[];
    error?: string;
}

/** The e2e's report: one row per check, figures, printed as it goes and as tables at the end. */
export class Report {
    readonly rows: Row[] = [];
    readonly figures: [string, string][] = [];

    say(line: string): void {
        process.stdout.write(`${line}\n`);
    }
    figure(name: string, value: string | number): void {
        this.figures.push([name, String(value)]);
    }
    add(row: Row): void {
        this.rows.push(row);
        this.say(
            `${row.result === "pass" ? "pass" : "FAIL"}: ${row.style} / ${row.check} (${row.seconds}s)${row.error ? ` -- ${row.error.split("\n")[0]}` : ""}`,
        );
    }
    get passed(): number {
        return this.rows.filter((r) => r.result === "pass").length;
    }
    get failed(): number {
        return this.rows.length - this.passed;
    }

    table(totalS: number): string {
        const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
        const out = ["", "| style | check | result | time (s) | evidence |", "|---|---|---|---|---|"];
        for (const r of this.rows) {
            const detail = r.result === "pass" ? r.lines.join("; ") : (r.error ?? "");
            out.push(`| ${r.style} | ${r.check}: ${cell(r.title)} | ${r.result} | ${r.seconds} | ${cell(detail).slice(0, 600)} |`);
        }
        out.push("", "| figure | value |", "|---|---|", ...this.figures.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`));
        out.push("", `total ${totalS}s`, `e2e: ${this.passed} passed, ${this.failed} failed`);
        return out.join("\n");
    }
    write(dir: string, totalS: number): void {
        const t = this.table(totalS);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "table.md"), `${t}\n`);
        this.say(t);
    }
}
