import { Cidr, contains, overlaps, parseCidr } from "../../facts/cidr";
import { parseSelector } from "../../facts/selector";
import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";

/** calico-node refuses a selector it can't parse only at run time; say so before anything is installed. */
export function selectorProblem(key: string, value: string, reason: string): Problem {
    return problem(key, value, `is not a Calico selector (${reason}); write e.g. all(), has(zone) or zone == "a".`);
}

/** Pod CIDR and IP pool rules: what kubespray's check.yml and calicoctl would refuse, caught before install. */
export function networkRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const pod = parseCidr(cfg.cluster.podCidr);
    if (!pod.ok) out.push(problem("cluster.podCidr", cfg.cluster.podCidr, `${pod.reason}.`));

    if (cfg.pools.length === 0) {
        out.push(problem("pools", cfg.pools, "no IP pools; add at least one pool inside cluster.podCidr."));
    }
    const seen = new Map<string, number>();
    const parsed: { key: string; cidr: Cidr }[] = [];
    cfg.pools.forEach((pool, i) => {
        const key = itemKey("pools", pool, i);
        seen.set(pool.name, (seen.get(pool.name) ?? 0) + 1);
        if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pool.name)) {
            out.push(problem(`${key}.name`, pool.name, "is not a valid resource name; use lower-case letters, digits, '-' and '.'."));
        }
        if (pool.ipipMode !== "Never" && pool.vxlanMode !== "Never") {
            out.push(
                problem(
                    `${key}.ipipMode`,
                    pool.ipipMode,
                    `IPIP and VXLAN (vxlanMode ${pool.vxlanMode}) are both on; set one of them to Never.`,
                ),
            );
        }
        const sel = parseSelector(pool.nodeSelector);
        if (!sel.ok) out.push(selectorProblem(`${key}.nodeSelector`, pool.nodeSelector, sel.reason));
        const c = parseCidr(pool.cidr);
        if (!c.ok) {
            out.push(problem(`${key}.cidr`, pool.cidr, `${c.reason}.`));
            return;
        }
        const cidr = c.cidr;
        const [minBlock, maxBlock] = cidr.kind === "ipv4" ? [20, 32] : [116, 128];
        if (pool.blockSize < minBlock || pool.blockSize > maxBlock) {
            out.push(
                problem(
                    `${key}.blockSize`,
                    pool.blockSize,
                    `must be ${minBlock}-${maxBlock} for an ${cidr.kind} pool; ${cidr.kind === "ipv4" ? 26 : 122} is the usual choice.`,
                ),
            );
        } else if (cidr.prefix > pool.blockSize) {
            out.push(
                problem(
                    `${key}.cidr`,
                    pool.cidr,
                    `is smaller than one /${pool.blockSize} block; widen the pool or raise blockSize to at least ${cidr.prefix}.`,
                ),
            );
        }
        // A pool of the other family is checked against cluster.podCidrV6 (rules/dualStack.ts).
        if (pod.ok && pod.cidr.kind === cidr.kind && !contains(pod.cidr, cidr)) {
            out.push(problem(`${key}.cidr`, pool.cidr, `is outside cluster.podCidr ${cfg.cluster.podCidr}; pick a range inside it.`));
        }
        for (const other of parsed) {
            if (overlaps(other.cidr, cidr)) {
                out.push(
                    problem(`${key}.cidr`, pool.cidr, `overlaps ${other.key}.cidr ${other.cidr.text}; pools must not share addresses.`),
                );
            }
        }
        parsed.push({ key, cidr });
    });
    for (const [name, count] of seen) {
        if (count > 1) out.push(problem("pools", name, `pool name "${name}" is used ${count} times; give each pool its own name.`));
    }
    if (cfg.pools.length > 0 && cfg.pools.every((p) => p.disabled)) {
        out.push(
            problem(
                "pools",
                cfg.pools.map((p) => p.name),
                "every pool is disabled, so pods get no address; enable at least one.",
            ),
        );
    }
    return out;
}
