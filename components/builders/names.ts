/** Names and common names shared across components, so both ends of every reference agree. */
export const KUBE_SYSTEM = "kube-system";
/** Common name of the Typha server certificate; calico/node checks it via FELIX_TYPHACN. */
export const TYPHA_SERVER_CN = "calico-typha";
/** Common name of calico/node's client certificate; Typha checks it via TYPHA_CLIENTCN. */
export const NODE_CLIENT_CN = "calico-node";
/** Kubernetes user the CNI plugin authenticates as (the CN of its client certificate). */
export const CNI_USER = "calico-cni";
/** Context name in the CNI kubeconfig, as in the hard way. */
export const CNI_CONTEXT = "cni@kubernetes";
export const CNI_CLUSTER = "kubernetes";
export const CONFLIST_FILE = "10-calico.conflist";
export const CNI_KUBECONFIG_FILE = "calico-kubeconfig";
/** Labels every object the program creates carries, so `kubectl get -l` finds them. */
export const MANAGED_BY_LABELS = { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "calico" } as const;
