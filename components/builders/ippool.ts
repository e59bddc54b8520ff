import type { PoolConfig } from "../config/schema";
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
