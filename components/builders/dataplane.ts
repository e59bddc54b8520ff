import type { Dataplane, KubeProxyMode } from "../config/schema";
import { CALICO_NODE, SERVICES_ENDPOINT_CONFIGMAP } from "../facts/names";
import { literal, workloadMeta } from "./pod";
import type { ConfigMapOf, EnvVar } from "./workloadTypes";

/**
 * Felix's Linux dataplane (`calicoNode.dataplane`): iptables, nftables or eBPF, and whether kube-proxy
 * still runs beside it (`calicoNode.kubeProxy`).
 */
export interface DataplaneParams {
    dataplane: Dataplane;
    kubeProxy: KubeProxyMode;
}

/** kube-proxy's health port; in bpf mode Felix's kube-proxy replacement serves it (BPFKubeProxyHealthzPort's default). */
export const KUBE_PROXY_HEALTHZ_PORT = 10256;

/**
 * The dataplane's Felix settings, as FelixConfiguration fields. calico-node gets them as env
 * (dataplaneEnv): Felix reads env before the datastore and ranks it above, so it starts in the chosen
 * mode rather than restarting into it once a FelixConfiguration arrives.
 */
export function dataplaneFelixFields(p: DataplaneParams): Record<string, boolean | number | string> {
    const bpf = p.dataplane === "bpf";
    const removed = p.kubeProxy === "removed";
    return {
        bpfEnabled: bpf,
        // Auto would follow whatever mode kube-proxy runs in; config names the mode instead.
        nftablesMode: p.dataplane === "nftables" ? "Enabled" : "Disabled",
        ...(bpf
            ? {
                  // Beside a running kube-proxy, Felix must neither remove its rules nor take its health port (0: no server).
                  bpfKubeProxyIptablesCleanupEnabled: removed,
                  bpfKubeProxyHealthzPort: removed ? KUBE_PROXY_HEALTHZ_PORT : 0,
              }
            : {}),
    };
}

/** The env var Felix reads a FelixConfiguration field from: its config parameter, upper-cased, after FELIX_. */
export function felixEnvName(field: string): string {
    return `FELIX_${field.toUpperCase()}`;
}

export function dataplaneEnv(p: DataplaneParams): EnvVar[] {
    return Object.entries(dataplaneFelixFields(p)).map(([field, v]) => literal(felixEnvName(field), String(v)));
}

/** Host and port of the API server URL, as KUBERNETES_SERVICE_HOST/PORT want them (no IPv6 brackets). */
export function servicesEndpoint(apiServer: string): { host: string; port: string } {
    const url = new URL(apiServer);
    return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: url.port || "443" };
}

/** The `kubernetes-services-endpoint` ConfigMap (see SERVICES_ENDPOINT_CONFIGMAP), from `cluster.apiServer`. */
export function buildServicesEndpointConfigMap(apiServer: string): ConfigMapOf<string> {
    const ep = servicesEndpoint(apiServer);
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: workloadMeta(SERVICES_ENDPOINT_CONFIGMAP, CALICO_NODE),
        data: { KUBERNETES_SERVICE_HOST: ep.host, KUBERNETES_SERVICE_PORT: ep.port },
    };
}
