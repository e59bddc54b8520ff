import type { IpamMode } from "../config/schema";
import { calicoDatastoreName } from "../facts/names";
import { stableJson } from "./json";

/** CNI datastore settings: the Kubernetes API (default) or etcd with client TLS files on the host. */
export type CniDatastore =
    { type: "kubernetes" } | { type: "etcd"; endpoints: string[]; caFile: string; certFile: string; keyFile: string };

export interface ConflistOptions {
    /** Kubernetes node name; Calico must not guess it from the host name, which may differ. */
    nodeName: string;
    mtu: number;
    logLevel: string;
    /** Absolute path of the CNI kubeconfig on the host. */
    kubeconfigPath: string;
    ipam: IpamMode;
    /** Dual-stack: calico-ipam gives every pod an IPv6 address too (the config rules allow it with calico-ipam only). */
    ipv6: boolean;
    bandwidth: boolean;
    datastore: CniDatastore;
}

export const CNI_NETWORK_NAME = "k8s-pod-network";
export const CNI_LOG_FILE = "/var/log/calico/cni/cni.log";

/** The `ipam` section for each IPAM mode. host-local takes this node's Kubernetes podCIDR. */
const IPAM: Record<IpamMode, Record<string, unknown>> = {
    "calico-ipam": { type: "calico-ipam" },
    "host-local": { type: "host-local", subnet: "usePodCidr" },
    spiderpool: { type: "spiderpool" },
};

/** The `10-calico.conflist` object for one node. */
export function buildConflist(o: ConflistOptions): Record<string, unknown> {
    const calico: Record<string, unknown> = {
        type: "calico",
        log_level: o.logLevel,
        log_file_path: CNI_LOG_FILE,
        nodename: o.nodeName,
        mtu: o.mtu,
        // The CNI plugin reads both flags as strings.
        ipam: o.ipv6 ? { ...IPAM[o.ipam], assign_ipv4: "true", assign_ipv6: "true" } : IPAM[o.ipam],
        policy: { type: "k8s" },
        kubernetes: { kubeconfig: o.kubeconfigPath },
    };
    calico.datastore_type = calicoDatastoreName(o.datastore.type);
    if (o.datastore.type === "etcd") {
        calico.etcd_endpoints = o.datastore.endpoints.join(",");
        calico.etcd_ca_cert_file = o.datastore.caFile;
        calico.etcd_cert_file = o.datastore.certFile;
        calico.etcd_key_file = o.datastore.keyFile;
    }
    const plugins: Record<string, unknown>[] = [calico, { type: "portmap", snat: true, capabilities: { portMappings: true } }];
    if (o.bandwidth) plugins.push({ type: "bandwidth", capabilities: { bandwidth: true } });
    return { name: CNI_NETWORK_NAME, cniVersion: "0.3.1", plugins };
}

export function renderConflist(o: ConflistOptions): string {
    return stableJson(buildConflist(o));
}
