/**
 * FelixConfiguration fields the program sets itself, and where: a config key (the FelixConfiguration
 * patch, or calico-node's env derived from it), or calico-node's fixed env. `felix.settings` may not set
 * them: the program would overwrite the value, or Felix would ignore it (Felix ranks env above the
 * datastore). test/felixSettings.test.ts checks every FELIX_* env var calico-node gets is listed here.
 */
export const FELIX_OWNED_FIELDS: Record<string, string> = {
    bpfEnabled: "calicoNode.dataplane",
    nftablesMode: "calicoNode.dataplane",
    bpfKubeProxyIptablesCleanupEnabled: "calicoNode.kubeProxy",
    bpfKubeProxyHealthzPort: "calicoNode.kubeProxy",
    ipv6Support: "calicoNode.ipv6",
    ipipMTU: "cni.mtu",
    vxlanMTU: "cni.mtu",
    vxlanMTUV6: "cni.mtu",
    wireguardMTU: "cni.mtu",
    wireguardMTUV6: "cni.mtu",
    wireguardEnabled: "felix.wireguard.ipv4",
    wireguardEnabledV6: "felix.wireguard.ipv6",
    logSeverityScreen: "felix.logSeverity",
    prometheusMetricsEnabled: "felix.prometheusMetricsEnabled",
    prometheusMetricsPort: "felix.prometheusMetricsPort",
    // calico-node's fixed env, as upstream's manifests set it.
    defaultEndpointToHostAction: "env",
    healthEnabled: "env",
};
