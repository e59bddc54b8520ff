import type * as k8s from "@pulumi/kubernetes";
import { CNI_USER, KUBE_SYSTEM, MANAGED_BY_LABELS } from "../facts/names";

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;

/**
 * What the pinned release's CNI plugin does against the API: reads pods, nodes and namespaces, patches
 * pod status (pod IP annotations), and runs IPAM on Calico's CRDs. The hard way's older rule set lacks
 * pods/status, ipreservations and the KubeVirt lookups, which the plugin now makes.
 */
export function cniClusterRoleRules(): PolicyRule[] {
    return [
        { apiGroups: [""], resources: ["namespaces", "nodes", "pods"], verbs: ["get"] },
        { apiGroups: [""], resources: ["pods/status"], verbs: ["patch"] },
        {
            apiGroups: ["crd.projectcalico.org", "projectcalico.org"],
            resources: [
                "blockaffinities",
                "clusterinformations",
                "ipamblocks",
                "ipamconfigs",
                "ipamconfigurations",
                "ipamhandles",
                "ippools",
                "ipreservations",
            ],
            verbs: ["create", "delete", "get", "list", "update"],
        },
        { apiGroups: ["kubevirt.io"], resources: ["virtualmachineinstances", "virtualmachines"], verbs: ["get"] },
    ];
}

export function cniClusterRole(name: string): k8s.rbac.v1.ClusterRoleArgs & { kind: string } {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name, labels: { ...MANAGED_BY_LABELS } },
        rules: cniClusterRoleRules(),
    };
}

/**
 * The account whose tokens the CNI plugin uses with `cni.delivery: daemonset`: calico-node requests them
 * (TokenRequest, 24 h) and rewrites the host's kubeconfig before each expires; it holds no other right.
 */
export function cniServiceAccount(name: string): k8s.core.v1.ServiceAccountArgs & { kind: string } {
    return { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: KUBE_SYSTEM, labels: { ...MANAGED_BY_LABELS } } };
}

/**
 * Binds the role to the CNI plugin's identity: over SSH, the user named by the calico-cni certificate's CN;
 * with install-cni, the calico-cni-plugin ServiceAccount.
 */
export function cniClusterRoleBinding(
    name: string,
    roleName: string,
    subject: "user" | "serviceAccount",
): k8s.rbac.v1.ClusterRoleBindingArgs & { kind: string } {
    return {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name, labels: { ...MANAGED_BY_LABELS } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: roleName },
        subjects: [
            subject === "user"
                ? { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: CNI_USER }
                : { kind: "ServiceAccount", name, namespace: KUBE_SYSTEM },
        ],
    };
}
