import { type Encapsulation, encapsulations } from "../config/mtu";
import type { EncapMode } from "../config/schema";
import { CALICO_CRD_API_VERSION, MANAGED_BY_LABELS } from "../facts/names";
import { DEFAULT_NAME, PATCH_ANNOTATIONS } from "./bgp";

/**
 * The default FelixConfiguration: Felix knobs from `felix.*`, WireGuard, the tunnel MTUs of the
 * encapsulations in use, and `felix.settings` (any other spec field, checked against the pinned CRD by
 * config/rules/felixSettings.ts). Each field is set only when config asks for it, so Calico's defaults
 * stand otherwise. The same object goes to the CRDs as a patch, or to etcd through calicoctl.
 */
export interface FelixSettings {
    logSeverity?: string;
    prometheusMetricsEnabled?: boolean;
    prometheusMetricsPort?: number;
    /** Encrypt IPv4 / IPv6 pod traffic between nodes (`felix.wireguard`). */
    wireguardEnabled?: boolean;
    wireguardEnabledV6?: boolean;
    /** The pod MTU, for each tunnel device in use, so the tunnels match the veths (config/mtu.ts). */
    ipipMtu?: number;
    vxlanMtu?: number;
    vxlanMtuV6?: number;
    wireguardMtu?: number;
    wireguardMtuV6?: number;
    /** `felix.settings`, as validated. */
    settings: Record<string, unknown>;
}

interface FelixInputs {
    felix: {
        logSeverity?: string;
        prometheusMetricsEnabled?: boolean;
        prometheusMetricsPort?: number;
        wireguard: { ipv4: boolean; ipv6: boolean };
        settings: Record<string, unknown>;
    };
    pools: { cidr: string; ipipMode: EncapMode; vxlanMode: EncapMode; disabled: boolean }[];
    /** The pod MTU the conflist uses. */
    mtu: number;
}

export function felixSettings(c: FelixInputs): FelixSettings {
    const inUse = new Set(encapsulations(c));
    const mtu = (e: Encapsulation) => (inUse.has(e) ? c.mtu : undefined);
    const on = (b: boolean) => (b ? true : undefined);
    return {
        logSeverity: c.felix.logSeverity,
        prometheusMetricsEnabled: c.felix.prometheusMetricsEnabled,
        prometheusMetricsPort: c.felix.prometheusMetricsPort,
        wireguardEnabled: on(c.felix.wireguard.ipv4),
        wireguardEnabledV6: on(c.felix.wireguard.ipv6),
        ipipMtu: mtu("ipip"),
        vxlanMtu: mtu("vxlan"),
        vxlanMtuV6: mtu("vxlanV6"),
        wireguardMtu: mtu("wireguard"),
        wireguardMtuV6: mtu("wireguardV6"),
        settings: c.felix.settings,
    };
}

/** The `default` FelixConfiguration with only the set fields, or undefined when there are none. */
export function buildFelixConfiguration(s: FelixSettings): Record<string, unknown> | undefined {
    const fields: Record<string, unknown> = {
        // The rules refuse settings keys the fields below own, so neither overwrites the other.
        ...s.settings,
        logSeverityScreen: s.logSeverity,
        prometheusMetricsEnabled: s.prometheusMetricsEnabled,
        prometheusMetricsPort: s.prometheusMetricsPort,
        wireguardEnabled: s.wireguardEnabled,
        wireguardEnabledV6: s.wireguardEnabledV6,
        ipipMTU: s.ipipMtu,
        vxlanMTU: s.vxlanMtu,
        vxlanMTUV6: s.vxlanMtuV6,
        wireguardMTU: s.wireguardMtu,
        wireguardMTUV6: s.wireguardMtuV6,
    };
    const spec = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    if (Object.keys(spec).length === 0) return undefined;
    return {
        apiVersion: CALICO_CRD_API_VERSION,
        kind: "FelixConfiguration",
        metadata: { name: DEFAULT_NAME, labels: { ...MANAGED_BY_LABELS }, annotations: { ...PATCH_ANNOTATIONS } },
        spec,
    };
}
