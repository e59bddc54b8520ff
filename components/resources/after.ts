import * as pulumi from "@pulumi/pulumi";

/**
 * Options that order a component's whole subtree after `deps`. A component's own dependsOn is not passed
 * on to its children, so on destroy the engine could delete the CRDs before the custom resources that
 * need them ("the server could not find the requested resource"). The transformation puts the
 * dependency on every descendant, which orders both create and delete. Pass the resources themselves
 * (e.g. Datastore.crdResources), not a component whose children register later: the SDK expands a
 * component in dependsOn to the children it has at that moment.
 */
export function after(deps: pulumi.Input<pulumi.Resource[]>): Pick<pulumi.ComponentResourceOptions, "dependsOn" | "transformations"> {
    if (Array.isArray(deps) && deps.length === 0) return {};
    const addDeps: pulumi.ResourceTransformation = (args) => ({
        props: args.props,
        opts: pulumi.mergeOptions(args.opts, { dependsOn: deps }),
    });
    return { dependsOn: deps, transformations: [addDeps] };
}
