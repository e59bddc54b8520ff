import type { EncapMode } from "./schema";

/** What the MTU depends on: the pools' encapsulation and WireGuard. */
export interface MtuInputs {
    pools: { cidr: string; ipipMode: EncapMode; vxlanMode: EncapMode; disabled: boolean }[];
    felix: { wireguard: { ipv4: boolean; ipv6: boolean } };
}

/**
 * Bytes each encapsulation adds to a packet, as Felix subtracts them from the host MTU
 * (ConfigureDefaultMTUs in felix/dataplane/linux/int_dataplane.go). Felix gives pods the smallest MTU
 * among the encapsulations in use, so the pod MTU is the network MTU less the largest of these.
 */
export const MTU_OVERHEAD = { ipip: 20, vxlan: 50, vxlanV6: 70, wireguard: 60, wireguardV6: 80 } as const;
export type Encapsulation = keyof typeof MTU_OVERHEAD;

const NAMES: Record<Encapsulation, string> = {
    ipip: "IPIP",
    vxlan: "VXLAN",
    vxlanV6: "IPv6 VXLAN",
    wireguard: "WireGuard",
    wireguardV6: "IPv6 WireGuard",
};

/** The encapsulations in use: the enabled pools' (every pool's while all are disabled) and WireGuard's. */
export function encapsulations(cfg: MtuInputs): Encapsulation[] {
    const enabled = cfg.pools.filter((p) => !p.disabled);
    const pools = enabled.length > 0 ? enabled : cfg.pools;
    const v6 = (cidr: string) => cidr.includes(":");
    const inUse: Record<Encapsulation, boolean> = {
        ipip: pools.some((p) => p.ipipMode !== "Never"),
        vxlan: pools.some((p) => p.vxlanMode !== "Never" && !v6(p.cidr)),
        vxlanV6: pools.some((p) => p.vxlanMode !== "Never" && v6(p.cidr)),
        wireguard: cfg.felix.wireguard.ipv4,
        wireguardV6: cfg.felix.wireguard.ipv6,
    };
    return (Object.keys(MTU_OVERHEAD) as Encapsulation[]).filter((e) => inUse[e]);
}

/** The largest overhead in use and what adds it; none: 0 bytes. */
export function podMtuOverhead(cfg: MtuInputs): { bytes: number; by?: string } {
    let best: { bytes: number; by?: string } = { bytes: 0 };
    for (const e of encapsulations(cfg)) if (MTU_OVERHEAD[e] > best.bytes) best = { bytes: MTU_OVERHEAD[e], by: NAMES[e] };
    return best;
}
