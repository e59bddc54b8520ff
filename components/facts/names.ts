/**
 * Calico facts that config, builders and resources all need: object names, certificate common names, API
 * groups and the datastore names Calico's components read. Imports nothing, so any layer may use it.
 */

/** The project's one name (Pulumi.yaml's `name`): the field manager, the caches, the host's state dir. */
export const PROJECT_SLUG = "calico-hard-way";

export const KUBE_SYSTEM = "kube-system";

/** Workload names, as upstream's manifests use them (and so `kubectl -l k8s-app=...`). */
export const TYPHA = "calico-typha";
/** Typha's Service port (calico-node finds it by name) and its health port, on the host network. */
export const TYPHA_PORT = 5473;
export const TYPHA_HEALTH_PORT = 9098;
/** Typha's Prometheus port unless `typha.metricsPort` says otherwise; `npm run verify` reads Felix connections there. */
export const TYPHA_METRICS_PORT = 9093;
export const CALICO_NODE = "calico-node";
export const KUBE_CONTROLLERS = "calico-kube-controllers";
/** The namespace of `npm run verify`'s probe pods unless `verify.namespace` says otherwise. */
export const VERIFY_NAMESPACE = "calico-verify";

/** Common name of the Typha server certificate; calico/node checks it via FELIX_TYPHACN. */
export const TYPHA_SERVER_CN = "calico-typha";
/** Common name of calico/node's client certificate; Typha checks it via TYPHA_CLIENTCN. */
export const NODE_CLIENT_CN = "calico-node";
/** Kubernetes user the CNI plugin authenticates as (the CN of its client certificate). */
export const CNI_USER = "calico-cni";
/** Context and cluster names in the CNI kubeconfig, as in the hard way. */
export const CNI_CONTEXT = "cni@kubernetes";
export const CNI_CLUSTER = "kubernetes";
/** The CNI files on every host, in the CNI conf dir. */
export const CONFLIST_FILE = "10-calico.conflist";
export const CNI_KUBECONFIG_FILE = "calico-kubeconfig";

/** A host's conflist, under `cni.confDir` (taken as given: a changed path would rewrite every host). */
export function conflistPath(confDir: string): string {
    return `${confDir}/${CONFLIST_FILE}`;
}

/** A host's CNI kubeconfig, under `cni.confDir`. */
export function cniKubeconfigPath(confDir: string): string {
    return `${confDir}/${CNI_KUBECONFIG_FILE}`;
}

/**
 * The ConfigMap whose KUBERNETES_SERVICE_HOST/PORT calico-node, Typha and kube-controllers take as env
 * (optional envFrom, as upstream's manifests have it): with the eBPF dataplane they must reach the API
 * server directly, not through the `kubernetes` Service that kube-proxy (gone there) would route.
 */
export const SERVICES_ENDPOINT_CONFIGMAP = "kubernetes-services-endpoint";

/** Labels every object the program creates carries, so `kubectl get -l` finds them. */
export const MANAGED_BY_LABELS = { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "calico" } as const;

/** Calico's custom resources on the Kubernetes datastore. */
export const CALICO_CRD_GROUP = "crd.projectcalico.org";
export const CALICO_CRD_API_VERSION = `${CALICO_CRD_GROUP}/v1`;
/** The same resources as calicoctl reads and writes them (the only form on etcd). */
export const CALICO_V3_API_VERSION = "projectcalico.org/v3";
export const SPIDERPOOL_API_VERSION = "spiderpool.spidernet.io/v2beta1";

export const DatastoreTypes = ["kubernetes", "etcd"] as const;
export type DatastoreType = (typeof DatastoreTypes)[number];

/** What calico-node, kube-controllers, the CNI plugin and calicoctl call each datastore (DATASTORE_TYPE). */
const CALICO_DATASTORE_NAMES: Record<DatastoreType, string> = { kubernetes: "kubernetes", etcd: "etcdv3" };

export function calicoDatastoreName(type: DatastoreType): string {
    return CALICO_DATASTORE_NAMES[type];
}

/** Label that marks a route reflector; the route-reflector peers select on it. */
export const ROUTE_REFLECTOR_LABEL = "route-reflector";
/** Names of the two peers the route-reflector topology needs; config peers may not reuse them. */
export const RR_PEER_NAMES = { reflectors: "route-reflector-mesh", nodes: "peer-with-route-reflectors" } as const;

/**
 * Where each host keeps the list of paths the CNI install wrote: a later install removes what it no longer
 * writes (a binary switched off, a moved conf dir), and the delete removes everything listed.
 */
export const CNI_HOST_RECORD = `/var/lib/${PROJECT_SLUG}/cni-files`;
/** The record's former path (the slug spelled without its hyphen): hosts installed then are moved over. */
export const LEGACY_CNI_HOST_RECORD = "/var/lib/calico-hardway/cni-files";
/** Where a node's upload of the local CNI binaries lands, under the SSH user's home; removed after install. */
export const CNI_UPLOAD_DIR = ".calico-cni-upload";
