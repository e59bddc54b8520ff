import type { Kube } from "./kube";
import type { E2EStack, StackConfig } from "./stack";

/** What a check gets: its style's stack, the cluster, and where to put evidence. */
export interface Ctx {
    readonly style: Style;
    readonly stack: E2EStack;
    readonly kube: Kube;
    /** $S/e2e/<style>/: pulumi logs and anything a check keeps. */
    readonly logDir: string;
    readonly nodes: readonly string[];
    /** One line of evidence: printed, and kept as the check's detail in the report. */
    ok(line: string): void;
    /** A timing or figure for the summary table. */
    figure(name: string, value: string | number): void;
    /** Values the checks of one style pass on (the objects from the state, the pods, ...). */
    readonly shared: Map<string, unknown>;
}

export interface Check {
    /** A name, unique in its style: the report's key. */
    name: string;
    title: string;
    run(ctx: Ctx): Promise<void>;
    /** When this check fails the style's later checks do not run (and count as failed): nothing to check. */
    gate?: boolean;
}

/** One install style: a stack, its config, and the checks that apply, in run order. */
export interface Style {
    name: string;
    /** Its own stack in the sandbox's backend. */
    stack: string;
    title: string;
    /** The committed stack file its working copy starts from (default Pulumi.sandbox.yaml). */
    base?: string;
    /** Edits of that file (the style's config); `shared` holds what `setup` found (the nodes' podCIDRs, ...). */
    config?: (c: StackConfig, shared: Map<string, unknown>) => void;
    /** Before the stack is prepared (start an etcd, add a node). */
    setup?(ctx: Ctx): Promise<void>;
    checks: Check[];
    /**
     * After the checks, after the stack is destroyed and removed, and in the clean start: undo what
     * `setup` or a check left on the machine. Idempotent; safe when setup never ran.
     */
    cleanup?(): Promise<void>;
}
