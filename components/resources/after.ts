import * as pulumi from "@pulumi/pulumi";

/**
 * Kinds that read no Calico resource and run nothing: created before the CRDs or deleted after them,
 * they work the same. Ordering them too cost state, not safety: the engine keeps every dependency's URN
 * in each resource, 23 CRDs (and, for kube-controllers, every node's CNI resources) times each of them,
 * rewritten on every checkpoint.
 */
const NEEDS_NO_ORDER = new Set(
    [
        "core/v1:ServiceAccount",
        "core/v1:ConfigMap",
        "core/v1:Secret",
        "core/v1:Service",
        "policy/v1:PodDisruptionBudget",
        "rbac.authorization.k8s.io/v1:ClusterRole",
        "rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "rbac.authorization.k8s.io/v1:Role",
        "rbac.authorization.k8s.io/v1:RoleBinding",
    ].map((k) => `kubernetes:${k}`),
);

/** Whether `after` orders a resource of this type: every custom resource but the kinds above; no component. */
export function orderedAfter(type: string, custom: boolean): boolean {
    return custom && !NEEDS_NO_ORDER.has(type);
}

/**
 * Options that order a component's subtree after `deps`: each workload (Deployment, DaemonSet, Job) and
 * each Calico custom resource in it, not the objects of NEEDS_NO_ORDER. A component's own dependsOn is not
 * passed on to its children, so on destroy the engine could delete the CRDs before the custom resources
 * that need them ("the server could not find the requested resource"); the transformation puts the
 * dependency on each such descendant, which orders both create and delete. Pass the resources themselves
 * (e.g. Datastore.crdResources), not a component whose children register later: the SDK expands a
 * component in dependsOn to the children it has at that moment.
 */
export function after(deps: pulumi.Input<pulumi.Resource[]>): Pick<pulumi.ComponentResourceOptions, "transformations"> {
    if (Array.isArray(deps) && deps.length === 0) return {};
    // Transformations run inside the Resource constructor, before isInstance's flags are set: the prototype is.
    const addDeps: pulumi.ResourceTransformation = (args) =>
        orderedAfter(args.type, !(args.resource instanceof pulumi.ComponentResource))
            ? { props: args.props, opts: pulumi.mergeOptions(args.opts, { dependsOn: deps }) }
            : undefined;
    return { transformations: [addDeps] };
}
