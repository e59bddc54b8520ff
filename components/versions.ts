/**
 * The one place that pins versions. Every image and binary the program installs is derived from here,
 * so bumping Calico (or the `calico:calicoVersion` config key) moves everything together.
 */

/** The Calico release this program is written and tested against. */
export const CALICO_VERSION = "v3.32.1";

/** Standard CNI plugins (portmap, loopback, host-local, bandwidth) that ship with containernetworking/plugins. */
export const CNI_PLUGINS_VERSION = "v1.6.2";

/** Registry that serves the Calico images unless `calico:registry` names a mirror. */
export const DEFAULT_REGISTRY = "quay.io";

export const CALICO_IMAGES = ["node", "typha", "kube-controllers", "cni", "ctl"] as const;
export type CalicoImage = (typeof CALICO_IMAGES)[number];

/** Image references for one Calico version from one registry (a mirror such as docker.m.daocloud.io keeps the path). */
export function calicoImages(version: string, registry: string): Record<CalicoImage, string> {
    const repo = `${registry.replace(/\/+$/, "")}/calico`;
    return {
        node: `${repo}/node:${version}`,
        typha: `${repo}/typha:${version}`,
        "kube-controllers": `${repo}/kube-controllers:${version}`,
        cni: `${repo}/cni:${version}`,
        // calicoctl, for the etcd datastore: Calico resources reach etcd through it (builders/calicoctlApply.ts).
        ctl: `${repo}/ctl:${version}`,
    };
}

/** The official CRD manifest of a Calico release, applied when no local copy is configured. */
export function calicoCrdsUrl(version: string): string {
    return `https://raw.githubusercontent.com/projectcalico/calico/${version}/manifests/crds.yaml`;
}

/** Release download of the standard CNI plugins tarball, for stacks that fetch it on the host. */
export function cniPluginsUrl(version: string, arch = "amd64"): string {
    return `https://github.com/containernetworking/plugins/releases/download/${version}/cni-plugins-linux-${arch}-${version}.tgz`;
}
