import * as pulumi from "@pulumi/pulumi";

/**
 * Options that order a component's whole subtree after `deps`. A component's own dependsOn is not passed
 * on to its children, so on destroy the engine could delete the CRDs before the custom resources that
 * need them ("the server could not find the requested resource"). The transformation puts the
 * dependency on every descendant, which orders both create and delete.
 */
export function after(deps: pulumi.Resource[]): Pick<pulumi.ComponentResourceOptions, "dependsOn" | "transformations"> {
    if (deps.length === 0) return {};
    const addDeps: pulumi.ResourceTransformation = (args) => {
        const own = args.opts.dependsOn;
        const have = Array.isArray(own) ? own : own ? [own] : [];
        const missing = deps.filter((d) => !have.includes(d));
        return { props: args.props, opts: pulumi.mergeOptions(args.opts, { dependsOn: missing }) };
    };
    return { dependsOn: deps, transformations: [addDeps] };
}
