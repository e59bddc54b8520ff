/** JSON with keys sorted at every level: byte-stable output, so host files and diffs stay quiet. */
export function sortKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (value !== null && typeof value === "object") {
        const out: Record<string, unknown> = {};
        for (const key of Object.keys(value as Record<string, unknown>).sort()) {
            const v = (value as Record<string, unknown>)[key];
            if (v !== undefined) out[key] = sortKeys(v);
        }
        return out;
    }
    return value;
}

export function stableJson(value: unknown, indent = 2): string {
    return JSON.stringify(sortKeys(value), null, indent) + "\n";
}
