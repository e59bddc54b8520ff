/**
 * What `npm run verify` reports: one result per check. A check is a pure function from facts fetched
 * from the cluster (verify/facts.ts) to one of these, so each can be tested with tables of facts.
 */
export type Status = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
    name: string;
    status: Status;
    /** One line of figures: counts, days left, loss, ratios. */
    figures: string;
    /** Each node, session, pod or certificate that is not as it should be, by name. */
    details: string[];
    /** What to do, in the style of the config messages; empty when nothing is to be done. */
    fix: string;
}

export function result(name: string, status: Status, figures: string, details: string[] = [], fix = ""): CheckResult {
    return { name, status, figures, details, fix };
}

/** The worst status of a list: what a group of findings adds up to. */
export function worst(statuses: Status[]): Status {
    for (const s of ["fail", "warn", "pass"] as const) if (statuses.includes(s)) return s;
    return "skip";
}
