import { CONFLIST_FILE, cniKubeconfigPath, conflistPath } from "../facts/names";
import { CNI_IMAGE_BINARIES } from "../versions";
import { type ConflistOptions, renderConflist } from "./conflist";
import { ETCD_CERTS, KUBE_SERVICES_ENDPOINT_FROM, container, fromField, literal } from "./pod";
import type { Container, Volume, VolumeMount } from "./workloadTypes";

/**
 * `cni.delivery: daemonset`: calico-node's `install-cni` init container (the calico/cni image's
 * /opt/cni/bin/install) writes the CNI binaries, the conflist and a kubeconfig on every node it runs on,
 * as the operator and the official manifests do. The conflist is the program's own, so both delivery
 * modes write the same bytes for the same config; only the node name is filled in on the host.
 */

/** What install substitutes with KUBERNETES_NODE_NAME (the pod's spec.nodeName). */
export const NODE_NAME_PLACEHOLDER = "__KUBERNETES_NODE_NAME__";

/** Where install expects the host's CNI dirs, and calico-node's token refresher the conf dir. */
export const HOST_CNI_BIN_MOUNT = "/host/opt/cni/bin";
export const HOST_CNI_NET_MOUNT = "/host/etc/cni/net.d";
const CNI_BIN_VOLUME = "cni-bin-dir";
const CNI_NET_VOLUME = "cni-net-dir";
/** The etcd client Secret again, mounted 0600: install copies the files with their modes, as the SSH mode writes them. */
const CNI_ETCD_VOLUME = "cni-etcd-certs";

/** The conflist with the node name left for install to fill in. */
export function conflistTemplate(o: Omit<ConflistOptions, "nodeName">): string {
    return renderConflist({ ...o, nodeName: NODE_NAME_PLACEHOLDER });
}

/** What install writes from the template on the node named `nodeName` (every other placeholder is absent). */
export function conflistOnNode(template: string, nodeName: string): string {
    return template.split(NODE_NAME_PLACEHOLDER).join(nodeName);
}

/** The image's binaries install must not copy: those the conflist never calls (the SSH mode writes none of them). */
export function skippedImageBinaries(needed: readonly string[]): string[] {
    return CNI_IMAGE_BINARIES.filter((b) => b !== "install" && !needed.includes(b));
}

export interface InstallCniParams {
    /** The calico/cni image of the pinned version. */
    image: string;
    binDir: string;
    confDir: string;
    /** From conflistTemplate. */
    conflistTemplate: string;
    /** The plugins the conflist calls; the rest of the image's are skipped. */
    binaries: readonly string[];
    /** With etcd: install copies the client files from the Secret to `<confDir>/calico-tls`. */
    etcd: boolean;
}

export function installCniContainer(p: InstallCniParams): Container {
    return container({
        name: "install-cni",
        image: p.image,
        command: ["/opt/cni/bin/install"],
        // KUBERNETES_SERVICE_HOST/PORT, the API server address written into the kubeconfig, may be overridden there.
        envFrom: KUBE_SERVICES_ENDPOINT_FROM,
        env: [
            literal("CNI_CONF_NAME", CONFLIST_FILE),
            literal("CNI_NETWORK_CONFIG", p.conflistTemplate),
            // The host's conf dir, as install names paths in what it writes.
            literal("CNI_NET_DIR", p.confDir),
            fromField("KUBERNETES_NODE_NAME", "spec.nodeName"),
            literal("SKIP_CNI_BINARIES", skippedImageBinaries(p.binaries).join(",")),
            literal("UPDATE_CNI_BINARIES", "true"),
            // Run once and exit: calico-node's token refresher keeps the kubeconfig fresh from then on.
            literal("SLEEP", "false"),
        ],
        volumeMounts: [
            { name: CNI_BIN_VOLUME, mountPath: HOST_CNI_BIN_MOUNT },
            { name: CNI_NET_VOLUME, mountPath: HOST_CNI_NET_MOUNT },
            ...(p.etcd ? [{ name: CNI_ETCD_VOLUME, mountPath: ETCD_CERTS.dir, readOnly: true }] : []),
        ],
        securityContext: { privileged: true },
    });
}

export function installCniVolumes(p: Pick<InstallCniParams, "binDir" | "confDir" | "etcd">): Volume[] {
    return [
        { name: CNI_BIN_VOLUME, hostPath: { path: p.binDir } },
        { name: CNI_NET_VOLUME, hostPath: { path: p.confDir } },
        ...(p.etcd ? [{ name: CNI_ETCD_VOLUME, secret: { secretName: ETCD_CERTS.object, defaultMode: 0o600 } }] : []),
    ];
}

/** calico-node's mount of the conf dir, where its token refresher rewrites the kubeconfig before the token expires. */
export const CALICO_NODE_CNI_NET_MOUNT: VolumeMount = { name: CNI_NET_VOLUME, mountPath: HOST_CNI_NET_MOUNT };

/** The plugins install writes: those the conflist needs that the image has (bandwidth comes from the host's kubernetes-cni). */
export function imagePlugins(needed: readonly string[]): string[] {
    return needed.filter((b) => (CNI_IMAGE_BINARIES as readonly string[]).includes(b));
}

/** The host files install writes on a node, as paths. */
export function installedFiles(p: Pick<InstallCniParams, "binDir" | "confDir" | "binaries">): string[] {
    return [conflistPath(p.confDir), cniKubeconfigPath(p.confDir), ...imagePlugins(p.binaries).map((b) => `${p.binDir}/${b}`)];
}
