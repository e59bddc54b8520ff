import type { CertFact } from "../facts";
import { type CheckResult, result } from "../types";

export interface CertFacts {
    certs: CertFact[];
    now: Date;
    /** `pki.earlyRenewalHours`: `pulumi up` renews inside this window. */
    earlyRenewalHours: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** Days left on each certificate: warn inside the early-renewal window, fail once expired or unreadable. */
export function checkCerts(f: CertFacts): CheckResult {
    const figures: string[] = [];
    const details: string[] = [];
    let status: "pass" | "warn" | "fail" = "pass";
    for (const c of f.certs) {
        if (!c.notAfter) {
            details.push(`${c.name}: not read: ${c.error ?? "unknown"}`);
            status = "fail";
            continue;
        }
        const left = c.notAfter.getTime() - f.now.getTime();
        const days = Math.floor(left / DAY_MS);
        figures.push(`${c.name.split(" (")[0]} ${days}d`);
        if (left <= 0) {
            details.push(`${c.name}: expired ${c.notAfter.toISOString()}`);
            status = "fail";
        } else if (left <= f.earlyRenewalHours * 3600 * 1000) {
            details.push(`${c.name}: expires ${c.notAfter.toISOString()}, inside pki.earlyRenewalHours (${f.earlyRenewalHours} h)`);
            if (status === "pass") status = "warn";
        }
    }
    return result(
        "Certificates",
        status,
        figures.join(", "),
        details,
        status === "pass"
            ? ""
            : "run `pulumi up`: it renews every certificate inside pki.earlyRenewalHours and rolls the pods that mount them (a certificate not read: check that the stack's objects exist and the kubeconfig may read them).",
    );
}
