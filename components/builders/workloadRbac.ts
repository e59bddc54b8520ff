import { KUBE_SYSTEM, MANAGED_BY_LABELS } from "../facts/names";
import type { ClusterRole, ClusterRoleBinding, PolicyRule, ServiceAccount, WorkloadDatastore } from "./workloadTypes";

/**
 * ClusterRole rules of the Calico workloads for the pinned release. The kubernetes-datastore rules follow the
 * calico-typha.yaml manifest, the etcd ones calico-etcd.yaml; test/calicoNode.test.ts compares them with
 * the reference rule by rule, so a version bump that changes RBAC shows up as a failing test.
 */

/** Calico resources live in both API groups while the v3 API migration is under way. */
const CALICO = ["projectcalico.org", "crd.projectcalico.org"];
const CORE = [""];
const READ = ["get", "list", "watch"];
const CRUD = ["get", "list", "create", "update", "delete"];

function rule(apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): PolicyRule {
    return resourceNames ? { apiGroups, resources, verbs, resourceNames } : { apiGroups, resources, verbs };
}

/** What Felix, confd and BIRD read through Typha or directly: policy, pools, BGP, IPAM blocks, status. */
const CALICO_WATCHED = [
    "bgpconfigurations",
    "bgpfilters",
    "bgppeers",
    "blockaffinities",
    "caliconodestatuses",
    "clusterinformations",
    "felixconfigurations",
    "globalbgpconfigs",
    "globalfelixconfigs",
    "globalnetworkpolicies",
    "globalnetworksets",
    "hostendpoints",
    "ipamblocks",
    "ippools",
    "ipreservations",
    "networkpolicies",
    "networksets",
    "stagedglobalnetworkpolicies",
    "stagedkubernetesnetworkpolicies",
    "stagednetworkpolicies",
    "tiers",
];

/** Rules both calico-node variants share: CNI token, lookups, service discovery, node status. */
const NODE_COMMON: PolicyRule[] = [
    rule(CORE, ["serviceaccounts/token"], ["create"], ["calico-cni-plugin"]),
    rule(CORE, ["pods", "nodes", "namespaces"], ["get"]),
    rule(["discovery.k8s.io"], ["endpointslices"], ["watch", "list"]),
    rule(CORE, ["configmaps"], ["get"]),
];

export function calicoNodeRules(datastore: WorkloadDatastore["type"]): PolicyRule[] {
    if (datastore === "etcd") {
        // Calico data lives in etcd; the API server is only asked about Kubernetes objects.
        return [...NODE_COMMON, rule(CORE, ["endpoints", "services"], ["watch", "list"]), rule(CORE, ["nodes/status"], ["patch"])];
    }
    return [
        ...NODE_COMMON,
        // get: Felix finds Typha endpoints through the Service.
        rule(CORE, ["endpoints", "services"], ["watch", "list", "get"]),
        rule(CORE, ["nodes/status"], ["patch", "update"]),
        rule(["networking.k8s.io"], ["networkpolicies"], ["watch", "list"]),
        rule(["policy.networking.k8s.io"], ["clusternetworkpolicies"], ["watch", "list"]),
        rule(CORE, ["pods", "namespaces", "serviceaccounts"], ["list", "watch"]),
        rule(CORE, ["pods/status"], ["patch"]),
        rule(CALICO, CALICO_WATCHED, READ),
        rule(CALICO, ["tiers"], ["create"]),
        // Defaults calico-node writes on first start.
        rule(CALICO, ["ippools", "felixconfigurations", "bgpconfigurations", "clusterinformations"], ["create", "update"]),
        rule(CALICO, ["caliconodestatuses"], ["update"]),
        rule(CORE, ["nodes"], READ),
        rule(CALICO, ["bgpconfigurations", "bgppeers"], ["create", "update"]),
        rule(CALICO, ["blockaffinities", "ipamblocks", "ipamhandles"], CRUD),
        rule(CALICO, ["ipamconfigurations", "ipamconfigs"], ["get", "create"]),
        // confd aggregates routes per block.
        rule(CALICO, ["blockaffinities"], ["watch"]),
        rule(["apps"], ["daemonsets"], ["get"]),
        rule(["kubevirt.io"], ["virtualmachineinstancemigrations"], READ),
    ];
}

/**
 * Typha serves calico-node's syncers, so it reads what calico-node reads. Upstream runs Typha under the
 * calico-node account; a role of its own (as the hard way and the operator do) keeps it to reads plus
 * the ClusterInformation it initialises on start.
 */
export function typhaRules(): PolicyRule[] {
    return [
        rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"]),
        // Connection rebalancing counts Typha endpoints behind the Service.
        rule(CORE, ["endpoints", "services"], READ),
        rule(CORE, ["nodes"], READ),
        rule(CORE, ["pods", "namespaces", "serviceaccounts"], ["list", "watch"]),
        rule(["networking.k8s.io"], ["networkpolicies"], ["list", "watch"]),
        rule(["policy.networking.k8s.io"], ["clusternetworkpolicies"], ["list", "watch"]),
        rule(CALICO, CALICO_WATCHED, READ),
        rule(CALICO, ["clusterinformations"], ["create", "update"]),
        // Felix's syncer, which Typha serves, watches KubeVirt live migrations: without this Typha's cache
        // never syncs and it stays unready.
        rule(["kubevirt.io"], ["virtualmachineinstancemigrations"], READ),
    ];
}

export function kubeControllersRules(datastore: WorkloadDatastore["type"]): PolicyRule[] {
    const policyMigrator = rule(
        CALICO,
        ["networkpolicies", "stagednetworkpolicies", "globalnetworkpolicies", "stagedglobalnetworkpolicies"],
        ["watch", "list", "get", "create", "update", "delete"],
    );
    const services = rule(CORE, ["services", "services/status"], ["get", "list", "update", "watch"]);
    const workloadsStatus = rule(["apps"], ["daemonsets", "deployments"], READ);
    if (datastore === "etcd") {
        // The policy, namespace and serviceaccount controllers mirror Kubernetes objects into etcd.
        return [
            rule(CORE, ["pods", "nodes", "namespaces", "serviceaccounts"], ["watch", "list", "get"]),
            services,
            rule(["networking.k8s.io"], ["networkpolicies"], ["watch", "list"]),
            policyMigrator,
            workloadsStatus,
        ];
    }
    const all = ["get", "list", "watch", "create", "update", "patch", "delete"];
    return [
        // Node and IPAM garbage collection: deleted nodes and pods free their blocks and addresses.
        rule(CORE, ["nodes"], ["watch", "list", "get"]),
        rule(CORE, ["pods"], READ),
        rule(CORE, ["namespaces"], READ),
        services,
        rule(CALICO, ["ipreservations"], ["list"]),
        rule(CALICO, ["blockaffinities", "ipamblocks", "ipamhandles", "ipamconfigurations", "ipamconfigs", "tiers"], [...CRUD, "watch"]),
        rule(CALICO, ["ippools"], ["list", "watch"]),
        rule(CALICO, ["hostendpoints"], [...CRUD, "watch"]),
        rule(CALICO, ["clusterinformations"], ["get", "list", "create", "update", "watch"]),
        rule(CALICO, ["kubecontrollersconfigurations"], ["get", "list", "create", "update", "watch"]),
        rule(CALICO, ["kubecontrollersconfigurations/status"], ["get", "update"]),
        policyMigrator,
        workloadsStatus,
        // The datastore migration controller (v1 CRDs to the v3 API).
        rule(
            ["migration.projectcalico.org"],
            ["datastoremigrations", "datastoremigrations/status"],
            ["get", "list", "watch", "create", "update", "patch"],
        ),
        rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "list", "watch", "delete"]),
        rule(["apiregistration.k8s.io"], ["apiservices"], ["get", "list", "watch", "create", "delete"]),
        rule(["projectcalico.org"], ["*"], all),
        rule(["crd.projectcalico.org"], ["*"], READ),
        rule(["kubevirt.io"], ["virtualmachines", "virtualmachineinstances"], READ),
    ];
}

/** ServiceAccount, ClusterRole and ClusterRoleBinding that share one name, as upstream names them. */
export interface RbacObjects {
    serviceAccount: ServiceAccount;
    clusterRole: ClusterRole;
    clusterRoleBinding: ClusterRoleBinding;
}

export function buildRbac(name: string, rules: PolicyRule[], namespace: string = KUBE_SYSTEM): RbacObjects {
    const labels = { ...MANAGED_BY_LABELS };
    return {
        serviceAccount: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace, labels } },
        clusterRole: { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name, labels }, rules },
        clusterRoleBinding: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name, labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
            subjects: [{ kind: "ServiceAccount", name, namespace }],
        },
    };
}
