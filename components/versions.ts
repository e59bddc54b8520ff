/**
 * The one place that pins versions. Every image and binary the program installs is derived from here,
 * so bumping Calico (or the `calico:calicoVersion` config key) moves everything together.
 */

/** The Calico release this program is written and tested against. */
export const CALICO_VERSION = "v3.32.1";

/** The minor release `calico:calicoVersion` may move within: its patch releases keep RBAC, env and CRDs. */
export const CALICO_MINOR = CALICO_VERSION.split(".").slice(0, 2).join(".");

export function isSupportedCalicoVersion(version: string): boolean {
    return version.startsWith(`${CALICO_MINOR}.`) && /^\d+$/.test(version.slice(CALICO_MINOR.length + 1));
}

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

/**
 * What the calico/cni image of the pinned release carries in /opt/cni/bin (cni-plugin/Makefile: Calico's
 * own plugins, the containernetworking plugins it bundles, flannel, and the installer). No bandwidth plugin.
 */
export const CNI_IMAGE_BINARIES = ["calico", "calico-ipam", "flannel", "host-local", "install", "loopback", "portmap", "tuning"] as const;

/** The official CRD manifest of a Calico release, applied when no local copy is configured. */
export function calicoCrdsUrl(version: string): string {
    return `https://raw.githubusercontent.com/projectcalico/calico/${version}/manifests/crds.yaml`;
}

/**
 * The probe image of `npm run verify`, under `calico:registry` unless `verify.probeImage` names another:
 * Submariner's nettest has sh, ping (iputils, for don't-fragment pings), iperf3, curl, busybox and ss,
 * and quay.io mirrors (quay.m.daocloud.io) serve it as they serve calico/*.
 */
export const PROBE_IMAGE_PATH = "submariner/nettest:0.24.0";

export function probeImage(registry: string): string {
    return `${registry.replace(/\/+$/, "")}/${PROBE_IMAGE_PATH}`;
}
