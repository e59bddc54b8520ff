import type { PoolConfig } from "../config/schema";
import type { PreviousPool } from "../config/types";
import { CALICO_CRD_API_VERSION, MANAGED_BY_LABELS } from "../facts/names";

/** An IPPool custom resource exactly as configured; every field explicit so `preview` shows intent. */
export function buildIpPool(pool: PoolConfig): Record<string, unknown> {
    return {
        apiVersion: CALICO_CRD_API_VERSION,
        kind: "IPPool",
        metadata: { name: pool.name, labels: { ...MANAGED_BY_LABELS } },
        spec: {
            cidr: pool.cidr,
            blockSize: pool.blockSize,
            ipipMode: pool.ipipMode,
            vxlanMode: pool.vxlanMode,
            natOutgoing: pool.natOutgoing,
            disabled: pool.disabled,
            nodeSelector: pool.nodeSelector,
            disableBGPExport: pool.disableBGPExport,
        },
    };
}

/** The stack output poolSummary's lines go to (index.ts); the next run reads it back (asPreviousPools). */
export const POOLS_OUTPUT = "pools";

/** One line per pool for the stack outputs. */
export function poolSummary(pool: PoolConfig): Record<string, unknown> {
    return {
        name: pool.name,
        cidr: pool.cidr,
        blockSize: pool.blockSize,
        ipipMode: pool.ipipMode,
        vxlanMode: pool.vxlanMode,
        natOutgoing: pool.natOutgoing,
        disabled: pool.disabled,
    };
}

/**
 * The `pools` output of this stack's last update, read back: each line with a string name and cidr and a
 * numeric blockSize (`disabled` false unless true). Anything else (no output on a first run, an older or
 * hand-edited shape) gives nothing to compare against, so it refuses nothing.
 */
export function asPreviousPools(value: unknown): PreviousPool[] {
    if (!Array.isArray(value)) return [];
    return value.flatMap((line: unknown) => {
        if (!line || typeof line !== "object") return [];
        const { name, cidr, blockSize, disabled } = line as Record<string, unknown>;
        if (typeof name !== "string" || typeof cidr !== "string" || typeof blockSize !== "number") return [];
        return [{ name, cidr, blockSize, disabled: disabled === true }];
    });
}
