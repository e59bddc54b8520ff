import { fileIn, workloadMeta } from "./workloadCommon";
import type { ConfigMapOf, EnvVar, SecretOf, Volume, VolumeMount } from "./workloadTypes";

/**
 * How calico-node and kube-controllers reach an etcd datastore: the client TLS material in a Secret
 * mounted at /calico-secrets, the endpoints in the `calico-config` ConfigMap (the names upstream uses).
 */
export const ETCD_SECRET = "calico-etcd-secrets";
export const CALICO_CONFIG = "calico-config";
export const ETCD_VOLUME = "etcd-certs";
export const ETCD_DIR = "/calico-secrets";
export const ETCD_FILES = { ca: "etcd-ca", cert: "etcd-cert", key: "etcd-key" } as const;
export const ETCD_ENDPOINTS_KEY = "etcd_endpoints";

/** Environment of an etcd client; the endpoints come from the ConfigMap so every workload sees one list. */
export function etcdEnv(): EnvVar[] {
    return [
        { name: "ETCD_ENDPOINTS", valueFrom: { configMapKeyRef: { name: CALICO_CONFIG, key: ETCD_ENDPOINTS_KEY } } },
        { name: "ETCD_CA_CERT_FILE", value: fileIn(ETCD_DIR, ETCD_FILES.ca) },
        { name: "ETCD_CERT_FILE", value: fileIn(ETCD_DIR, ETCD_FILES.cert) },
        { name: "ETCD_KEY_FILE", value: fileIn(ETCD_DIR, ETCD_FILES.key) },
    ];
}

/** `mode` is 0400 for root containers and 0440 for kube-controllers, which runs as non-root. */
export function etcdVolume(mode: number): Volume {
    return { name: ETCD_VOLUME, secret: { secretName: ETCD_SECRET, defaultMode: mode } };
}

export const ETCD_MOUNT: VolumeMount = { name: ETCD_VOLUME, mountPath: ETCD_DIR, readOnly: true };

/** Comma-separated, as calico-node and kube-controllers parse ETCD_ENDPOINTS. */
export function buildCalicoConfig(endpoints: string[]): ConfigMapOf<string> {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: workloadMeta(CALICO_CONFIG, "calico-node"),
        data: { [ETCD_ENDPOINTS_KEY]: endpoints.join(",") },
    };
}

/** Generic in the value type so the component can pass Pulumi secrets and tests plain strings. */
export function buildEtcdSecret<T>(material: { ca: T; cert: T; key: T }): SecretOf<T> {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: workloadMeta(ETCD_SECRET, "calico-node"),
        type: "Opaque",
        stringData: { [ETCD_FILES.ca]: material.ca, [ETCD_FILES.cert]: material.cert, [ETCD_FILES.key]: material.key },
    };
}
