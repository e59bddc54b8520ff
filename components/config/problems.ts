import { NAMESPACE } from "./entries";

/**
 * A config problem names the key (as the user wrote it, `calico:`-prefixed), the bad value and what to
 * do instead. Validation collects every problem before anything is registered, then reports them at once.
 */
export interface Problem {
    /** Dotted key path under `calico:`, with list items named by their `name` (e.g. `pools[ipv4-ippool-1].cidr`). */
    key: string;
    value: unknown;
    /** What is wrong and what to do instead. */
    message: string;
}

export function problem(key: string, value: unknown, message: string): Problem {
    return { key, value, message };
}

const REDACTED = "<secret>";

/** Keys are under `calico:` unless they name another namespace (e.g. `alicloud:secretKey`). */
export function qualifiedKey(key: string): string {
    return key.includes(":") ? key : `${NAMESPACE}:${key}`;
}

export function formatProblem(p: Problem): string {
    const shown = p.value === undefined ? "(unset)" : p.value === REDACTED ? REDACTED : JSON.stringify(p.value);
    return `${qualifiedKey(p.key)} = ${shown}: ${p.message}`;
}

/** Stands in for a secret value in a problem, so secrets never reach a message or a log. */
export const SECRET_VALUE = REDACTED;

export class ConfigError extends Error {
    constructor(public readonly problems: Problem[]) {
        super(
            `The ${NAMESPACE} stack config has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n` +
                problems.map((p) => `  - ${formatProblem(p)}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

/** `nodes[cka001]` when the item has a name, else `nodes[2]`: messages follow names, not positions. */
export function itemKey(list: string, item: { name?: unknown } | undefined, index: number): string {
    const name = item && typeof item.name === "string" && item.name !== "" ? item.name : String(index);
    return `${list}[${name}]`;
}
