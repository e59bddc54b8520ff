import { type Cidr, overlaps, parseCidr } from "../../facts/cidr";
import { Problem, itemKey, problem } from "../problems";
import type { PoolConfig } from "../schema";
import type { PreviousPool } from "../types";

/*
 * An IPPool's range is fixed once it exists. Calico v3.32.1 says so in three places:
 * - api/pkg/apis/projectcalico/v3/ippool.go: `cidr` carries the CEL rule `self == oldSelf`, "CIDR cannot
 *   be changed; follow IP pool migration guide to avoid corruption.", and libcalico-go's
 *   crd.projectcalico.org_ippools.yaml (the crds.yaml this program applies) has the same rule on `cidr`
 *   and on `blockSize` ("Block size cannot be changed; ..."). The API server checks it only when the
 *   update reaches the IPPool, so whatever Pulumi changed before it stays changed.
 * - libcalico-go/lib/clientv3/ippool.go validateAndSetDefaults, which calicoctl runs (the etcd Job):
 *   "IPPool CIDR cannot be modified" and "IPPool BlockSize cannot be modified" on an update, whether or
 *   not the pool is disabled; and on a create, "IPPool(%s) CIDR overlaps with IPPool(%s) CIDR %s" against
 *   every pool that exists, so a new pool can't take a range whose old pool is deleted after it.
 * Checked here against the last update's `pools` output, before anything is registered, the edit is
 * refused in `pulumi preview` already, with the way that works: Calico's pool migration.
 */

/** Calico's pool migration for pool `name`, as config changes (docs/configuration.md: "Migrating a pool"). */
export function migrationSteps(name: string): string {
    return (
        `migrate instead: add a pool under a new name with a range that overlaps no other pool, then set disabled: true on ${name}, ` +
        `then recreate the pods that have addresses from ${name}, then remove ${name} from calico:pools, ` +
        'with a `pulumi up` after each config change (docs/configuration.md: "Migrating a pool").'
    );
}

function cidrOf(text: string): Cidr | undefined {
    const c = parseCidr(text);
    return c.ok ? c.cidr : undefined;
}

/** The same network, however written (IPv6 zero compression): Calico's own cidrChangeOK compares so too. */
function sameNetwork(a: Cidr, b: Cidr): boolean {
    return a.kind === b.kind && a.prefix === b.prefix && a.network.toNormalizedString() === b.network.toNormalizedString();
}

/**
 * Pools whose range changed since the last update (`previous`, this stack's `pools` output): a pool of
 * the same name with another cidr or blockSize, disabled or not, and a new pool whose range overlaps a
 * pool this config removes (the same edit under a new name). A renamed pool with a range of its own is a
 * new pool, and a removed pool is the migration's last step: both pass (see poolRemovalWarnings). An empty
 * `previous` (first run, or a stack that never exported `pools`) refuses nothing.
 */
export function poolHistoryRules(pools: readonly PoolConfig[], previous: readonly PreviousPool[]): Problem[] {
    const out: Problem[] = [];
    const before = new Map(previous.map((p) => [p.name, p]));
    const configured = new Set(pools.map((p) => p.name));
    const removed = previous.filter((p) => !configured.has(p.name));
    pools.forEach((pool, i) => {
        const key = itemKey("pools", pool, i);
        const cidr = cidrOf(pool.cidr);
        if (!cidr) return; // networkRules reports the syntax.
        const prev = before.get(pool.name);
        if (prev) {
            const prevCidr = cidrOf(prev.cidr);
            if (prevCidr && !sameNetwork(prevCidr, cidr)) {
                out.push(
                    problem(
                        `${key}.cidr`,
                        pool.cidr,
                        `was ${prev.cidr} at the last update; pool ${pool.name}'s cidr can't be edited in place, as its pods and IPAM blocks keep their ${prev.cidr} addresses. ` +
                            `Put back ${prev.cidr} and ${migrationSteps(pool.name)}`,
                    ),
                );
            }
            if (prev.blockSize !== pool.blockSize) {
                out.push(
                    problem(
                        `${key}.blockSize`,
                        pool.blockSize,
                        `was ${prev.blockSize} at the last update; pool ${pool.name}'s blockSize can't be edited in place, as its IPAM blocks keep their /${prev.blockSize} size. ` +
                            `Put back ${prev.blockSize} and ${migrationSteps(pool.name)}`,
                    ),
                );
            }
            return;
        }
        for (const gone of removed) {
            const goneCidr = cidrOf(gone.cidr);
            if (!goneCidr || !overlaps(goneCidr, cidr)) continue;
            out.push(
                problem(
                    `${key}.cidr`,
                    pool.cidr,
                    `overlaps ${gone.cidr} of pool ${gone.name}, which the last update applied and this config removes: a new name does not move the pods and IPAM blocks already in ${gone.cidr}, ` +
                        `and a range is free for a new pool only once an update has removed the old one. Put pool ${gone.name} back and ${migrationSteps(gone.name)}`,
                ),
            );
        }
    });
    return out;
}

/**
 * Pools the last update had enabled and this config removes: allowed (an unused pool may go at once),
 * but pods that still have its addresses keep them once the pool is gone, so `pulumi preview` says so.
 * A pool removed after it was disabled is the migration's last step and passes quietly.
 */
export function poolRemovalWarnings(pools: readonly PoolConfig[], previous: readonly PreviousPool[]): Problem[] {
    const configured = new Set(pools.map((p) => p.name));
    return previous
        .filter((p) => !p.disabled && !configured.has(p.name))
        .map((p) =>
            problem(
                `pools[${p.name}]`,
                undefined,
                `pool ${p.name} (${p.cidr}) was enabled at the last update and this config removes it: pods that still have addresses from it keep them after the pool is gone. ` +
                    `If any does, put ${p.name} back and migrate instead: set disabled: true on it, recreate those pods, then remove it (docs/configuration.md: "Migrating a pool").`,
            ),
        );
}
