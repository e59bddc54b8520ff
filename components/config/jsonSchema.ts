/**
 * A validator for the part of OpenAPI v3 the FelixConfiguration CRD uses (facts/felixConfigurationSpec.json),
 * so `felix.settings` is checked at `pulumi preview` without shipping a schema library. It is stricter than
 * the API server in one way, on purpose: an unknown field is an error here, where the API server would
 * prune it silently. Formats (int32 on the two mark masks) are left to the API server: Felix's masks are
 * unsigned, and refusing 0xffff0000 here on a guess would be worse than the server's own answer.
 * test/felixSettings.test.ts checks it agrees with ajv on the pinned CRD.
 */

export interface SchemaNode {
    type?: "string" | "integer" | "number" | "boolean" | "object" | "array";
    enum?: unknown[];
    pattern?: string;
    format?: string;
    minimum?: number;
    maximum?: number;
    maxLength?: number;
    items?: SchemaNode;
    properties?: Record<string, SchemaNode>;
    additionalProperties?: SchemaNode;
    required?: string[];
    allOf?: SchemaNode[];
    anyOf?: SchemaNode[];
    default?: unknown;
    "x-kubernetes-int-or-string"?: boolean;
}

/** One failure; `path` is relative to the validated value (`.min`, `[0].port`), "" for the value itself. */
export interface SchemaError {
    path: string;
    message: string;
}

/** Kubernetes patterns are Go regexps; JavaScript has no inline `(?i)`, so it becomes the `i` flag. */
export function goRegExp(pattern: string): RegExp {
    return pattern.includes("(?i)") ? new RegExp(pattern.replace(/\(\?i\)/g, ""), "iu") : new RegExp(pattern, "u");
}

const TYPE_WORDS: Record<NonNullable<SchemaNode["type"]>, string> = {
    string: "a string",
    integer: "an integer",
    number: "a number",
    boolean: "true or false",
    object: "an object",
    array: "a list",
};

function isObject(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

function hasType(type: NonNullable<SchemaNode["type"]>, v: unknown): boolean {
    switch (type) {
        case "integer":
            return typeof v === "number" && Number.isInteger(v);
        case "number":
            return typeof v === "number" && Number.isFinite(v);
        case "object":
            return isObject(v);
        case "array":
            return Array.isArray(v);
        default:
            return typeof v === type;
    }
}

/** Every failure of `value` against `schema`; [] when it is valid. */
export function validateSchema(schema: SchemaNode, value: unknown, path = ""): SchemaError[] {
    const err = (message: string, at = path): SchemaError => ({ path: at, message });
    if (schema.type !== undefined && !hasType(schema.type, value)) return [err(`must be ${TYPE_WORDS[schema.type]}`)];
    if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(s, value, path).length === 0)) {
        const kinds = schema.anyOf.map((s) => (s.type ? TYPE_WORDS[s.type] : "valid")).join(" or ");
        return [err(`must be ${kinds}`)];
    }
    const out: SchemaError[] = [];
    for (const s of schema.allOf ?? []) out.push(...validateSchema(s, value, path));
    if (schema.enum && !schema.enum.includes(value)) out.push(err(`must be one of ${schema.enum.map(String).join(", ")}`));
    if (typeof value === "string") {
        if (schema.pattern !== undefined && !goRegExp(schema.pattern).test(value))
            out.push(err(`does not match the pattern ${schema.pattern}`));
        if (schema.maxLength !== undefined && [...value].length > schema.maxLength)
            out.push(err(`must be at most ${schema.maxLength} characters`));
    }
    if (typeof value === "number") {
        if (schema.minimum !== undefined && value < schema.minimum) out.push(err(`must be at least ${schema.minimum}`));
        if (schema.maximum !== undefined && value > schema.maximum) out.push(err(`must be at most ${schema.maximum}`));
    }
    if (Array.isArray(value) && schema.items) {
        const items = schema.items;
        value.forEach((v, i) => out.push(...validateSchema(items, v, `${path}[${i}]`)));
    }
    if (isObject(value) && (schema.properties || schema.additionalProperties)) {
        for (const key of schema.required ?? []) if (!(key in value)) out.push(err(`is required`, `${path}.${key}`));
        for (const [key, v] of Object.entries(value)) {
            const sub = schema.properties?.[key] ?? schema.additionalProperties;
            if (sub) out.push(...validateSchema(sub, v, `${path}.${key}`));
            else out.push(err(`is not a field here; use one of ${Object.keys(schema.properties ?? {}).join(", ")}`, `${path}.${key}`));
        }
    }
    return out;
}

/** Levenshtein distance, for "did you mean" on a misspelt field. */
export function editDistance(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const row = [i];
        for (let j = 1; j <= b.length; j++) {
            row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        prev = row;
    }
    return prev[b.length]!;
}

/** The known name closest to a misspelt one, when it is close enough to be what was meant. */
export function closest(name: string, known: string[]): string | undefined {
    const lower = name.toLowerCase();
    let best: { name: string; d: number } | undefined;
    for (const k of known) {
        const d = k.toLowerCase() === lower ? 0 : editDistance(lower, k.toLowerCase());
        if (!best || d < best.d) best = { name: k, d };
    }
    return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}
