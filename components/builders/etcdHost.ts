import type { CalicoctlDatastore } from "./calicoctl";
import type { CniDatastore } from "./conflist";
import type { WorkloadDatastore } from "./workloadTypes";
import { ETCD_CERTS } from "./pod";

const ETCD_FILES = ETCD_CERTS.files;

/**
 * The etcd client files on each host, for the CNI plugin (which runs outside any pod) and for calicoctl
 * run as root on a node. They sit where Calico's own install-cni puts them, under the CNI conf dir.
 */

export function etcdTlsDir(confDir: string): string {
    return `${confDir.replace(/\/+$/, "")}/calico-tls`;
}

export interface EtcdPaths {
    caFile: string;
    certFile: string;
    keyFile: string;
}

export function etcdHostPaths(confDir: string): EtcdPaths {
    const dir = etcdTlsDir(confDir);
    return { caFile: `${dir}/${ETCD_FILES.ca}`, certFile: `${dir}/${ETCD_FILES.cert}`, keyFile: `${dir}/${ETCD_FILES.key}` };
}

export interface HostFile<T> {
    /** Resource name stem; the host's component prefixes it with the node name. */
    name: string;
    path: string;
    content: T;
    mode: string;
    secret: boolean;
}

/** The three files, each 0600 and secret: the key obviously, the others because only root needs them. */
export function etcdHostFiles<T>(confDir: string, material: { caCert: T; cert: T; key: T }): HostFile<T>[] {
    const p = etcdHostPaths(confDir);
    return [
        { name: ETCD_FILES.ca, path: p.caFile, content: material.caCert, mode: "0600", secret: true },
        { name: ETCD_FILES.cert, path: p.certFile, content: material.cert, mode: "0600", secret: true },
        { name: ETCD_FILES.key, path: p.keyFile, content: material.key, mode: "0600", secret: true },
    ];
}

/** The conflist's datastore section for etcd, pointing at the host files. */
export function cniEtcdDatastore(confDir: string, endpoints: string[]): CniDatastore {
    return { type: "etcd", endpoints, ...etcdHostPaths(confDir) };
}

/** calicoctl's datastore: the same endpoints and host files as the CNI plugin, or the kubeconfig. */
export function calicoctlDatastore(datastore: WorkloadDatastore, confDir: string, kubeconfigPath: string): CalicoctlDatastore {
    return datastore.type === "etcd"
        ? { type: "etcd", endpoints: datastore.endpoints, ...etcdHostPaths(confDir) }
        : { type: "kubernetes", kubeconfigPath };
}
