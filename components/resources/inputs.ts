import * as pulumi from "@pulumi/pulumi";

/**
 * `f` of an input: at once for a plain value, through an Output only when it is one. Every Output costs the
 * SDK a promise chain to resolve and serialize, which shows at a thousand nodes, so a value the program
 * already has (the cluster CA from config) stays plain.
 */
export function mapInput<T, U>(v: pulumi.Input<T>, f: (t: T) => U): pulumi.Input<U> {
    if (pulumi.Output.isInstance(v) || v instanceof Promise) return pulumi.output(v).apply((t) => f(t as T)) as pulumi.Output<U>;
    return f(v as T);
}
