import { CALICO_NODE } from "../facts/names";
import { ETCD_CERTS, certMount, certPath, certVolume, workloadMeta } from "./pod";
import type { ConfigMapOf, EnvVar, SecretOf, Volume, VolumeMount } from "./workloadTypes";

/**
 * How calico-node, kube-controllers and the calicoctl Job reach an etcd datastore: the client TLS
 * material in a Secret (pod.ts's ETCD_CERTS), the endpoints in the `calico-config` ConfigMap (the names
 * upstream uses).
 */
export const CALICO_CONFIG = "calico-config";
export const ETCD_ENDPOINTS_KEY = "etcd_endpoints";

/** Environment of an etcd client; the endpoints come from the ConfigMap so every workload sees one list. */
export function etcdEnv(): EnvVar[] {
    return [
        { name: "ETCD_ENDPOINTS", valueFrom: { configMapKeyRef: { name: CALICO_CONFIG, key: ETCD_ENDPOINTS_KEY } } },
        { name: "ETCD_CA_CERT_FILE", value: certPath(ETCD_CERTS, "ca") },
        { name: "ETCD_CERT_FILE", value: certPath(ETCD_CERTS, "cert") },
        { name: "ETCD_KEY_FILE", value: certPath(ETCD_CERTS, "key") },
    ];
}

/** `mode` is 0400 for root containers and 0440 for kube-controllers, which runs as non-root. */
export function etcdVolume(mode: number): Volume {
    return certVolume(ETCD_CERTS, "secret", mode);
}

export const ETCD_MOUNT: VolumeMount = certMount(ETCD_CERTS);

/** Comma-separated, as calico-node and kube-controllers parse ETCD_ENDPOINTS. */
export function buildCalicoConfig(endpoints: string[]): ConfigMapOf<string> {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: workloadMeta(CALICO_CONFIG, CALICO_NODE),
        data: { [ETCD_ENDPOINTS_KEY]: endpoints.join(",") },
    };
}

/** Generic in the value type so the component can pass Pulumi secrets and tests plain strings. */
export function buildEtcdSecret<T>(material: { ca: T; cert: T; key: T }): SecretOf<T> {
    const f = ETCD_CERTS.files;
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: workloadMeta(ETCD_CERTS.object, CALICO_NODE),
        type: "Opaque",
        stringData: { [f.ca]: material.ca, [f.cert]: material.cert, [f.key]: material.key },
    };
}
