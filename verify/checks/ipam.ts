import type { IpamMode, PoolConfig } from "../../components/config/schema";
import { ipIn } from "../net";
import type { BlockFact, PodFact, PoolFact } from "../facts";
import { type CheckResult, result, worst } from "../types";

export interface IpamFacts {
    ipam: IpamMode;
    /** The live IPPools (crd.projectcalico.org). */
    pools: PoolFact[];
    /** `calico:pools`, to find drift. */
    configPools: PoolConfig[];
    /** IPAM blocks (calico-ipam only). */
    blocks: BlockFact[];
    /** Every pod not on the host network, with its addresses. */
    pods: PodFact[];
}

const count = (m: Map<string, number>) =>
    [...m]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");

/** Blocks per node and addresses in use per pool; no pod outside an enabled pool; nothing handed out by a disabled pool. */
export function checkIpam(f: IpamFacts): CheckResult {
    const details: string[] = [];
    const statuses: ("pass" | "warn" | "fail")[] = ["pass"];
    const enabled = f.pools.filter((p) => !p.disabled);
    const disabled = f.pools.filter((p) => p.disabled);
    const inUse = new Map(f.pools.map((p) => [p.name, 0]));
    const blocksPerNode = new Map<string, number>();
    for (const b of f.blocks) {
        blocksPerNode.set(b.node ?? "(no affinity)", (blocksPerNode.get(b.node ?? "(no affinity)") ?? 0) + 1);
        const pool = f.pools.find((p) => ipIn(b.cidr.split("/")[0] ?? "", p.cidr));
        if (pool) inUse.set(pool.name, (inUse.get(pool.name) ?? 0) + b.inUse);
        if (pool?.disabled && b.inUse > 0) {
            details.push(
                `pool ${pool.name} is disabled, but its block ${b.cidr} on ${b.node ?? "no node"} has ${b.inUse} addresses in use`,
            );
            statuses.push("fail");
        }
    }
    for (const p of [...f.pods].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))) {
        for (const ip of p.podIps) {
            const inDisabled = disabled.find((d) => ipIn(ip, d.cidr));
            if (inDisabled) {
                details.push(`pod ${p.namespace}/${p.name} has ${ip} from the disabled pool ${inDisabled.name}`);
                statuses.push("fail");
            } else if (!enabled.some((e) => ipIn(ip, e.cidr))) {
                details.push(`pod ${p.namespace}/${p.name} has ${ip}, outside every enabled pool`);
                statuses.push("fail");
            }
        }
    }
    for (const c of [...f.configPools].sort((a, b) => a.name.localeCompare(b.name))) {
        const live = f.pools.find((p) => p.name === c.name);
        if (!live) {
            details.push(`pools[${c.name}]: configured, but no live IPPool of that name`);
            statuses.push("fail");
        } else if (live.cidr !== c.cidr || live.disabled !== c.disabled) {
            details.push(`pools[${c.name}]: configured cidr ${c.cidr} disabled ${c.disabled}, live ${live.cidr} disabled ${live.disabled}`);
            statuses.push("warn");
        }
    }
    const figures = [
        ...(f.ipam === "calico-ipam"
            ? [`blocks per node: ${count(blocksPerNode) || "none"}`, `in use per pool: ${count(inUse)}`]
            : [`${f.ipam} IPAM`]),
        `${f.pods.length} pod addresses checked`,
    ].join("; ");
    const status = worst(statuses);
    if (status === "pass") return result("IPAM", "pass", figures);
    return result(
        "IPAM",
        status,
        figures,
        details,
        "an address outside the enabled pools means a pod predates the pool change or another IPAM handed it out: delete those pods so they get addresses from an enabled pool (`kubectl delete pod -n <ns> <pod>`); a pool that drifted from config is set right by `pulumi up`.",
    );
}
