import type { z } from "zod";
import { deriveConfig, type WrapSecret } from "./derive";
import { Problem, SECRET_VALUE, itemKey, problem, qualifiedKey } from "./problems";
import { aliyunRules } from "./rules/aliyun";
import { bgpRules } from "./rules/bgp";
import { calicoNodeRules } from "./rules/calicoNode";
import { clusterRules } from "./rules/cluster";
import { cniRules } from "./rules/cni";
import { dataplaneRules } from "./rules/dataplane";
import { datastoreRules } from "./rules/datastore";
import { deliveryRules } from "./rules/delivery";
import { dualStackRules } from "./rules/dualStack";
import { felixSettingsRules } from "./rules/felixSettings";
import { ipamRules } from "./rules/ipam";
import { networkRules } from "./rules/network";
import { nodeRules } from "./rules/nodes";
import { verifyRules } from "./rules/verify";
import { ParsedConfig, rawConfigSchema } from "./schema";
import type { CalicoConfig, ConfigEnv, RawSecrets } from "./types";

/** One rule set per concern; each sees the whole parsed config and returns every problem it finds. */
export type Rule = (cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv) => Problem[];

export const RULES: Rule[] = [
    (cfg, secrets, env) => clusterRules(cfg, secrets, env),
    (cfg) => networkRules(cfg),
    (cfg, secrets, env) => nodeRules(cfg, secrets, env),
    (cfg, _s, env) => cniRules(cfg, env),
    (cfg, secrets) => deliveryRules(cfg, secrets),
    (cfg) => calicoNodeRules(cfg),
    (cfg) => bgpRules(cfg),
    (cfg) => ipamRules(cfg),
    (cfg, secrets, env) => datastoreRules(cfg, secrets, env),
    (cfg) => aliyunRules(cfg),
    (cfg) => verifyRules(cfg),
    (cfg) => dualStackRules(cfg),
    (cfg) => dataplaneRules(cfg),
    (cfg) => felixSettingsRules(cfg),
];

export type Validation = { ok: true; config: ParsedConfig } | { ok: false; problems: Problem[] };
export type Resolution = { ok: true; config: CalicoConfig } | { ok: false; problems: Problem[] };

/** Turns a zod issue path into the key a user wrote, naming list items by their `name`. */
function issueKey(raw: unknown, path: PropertyKey[]): string {
    let key = "";
    let cursor: unknown = raw;
    for (const part of path) {
        if (typeof part === "number") {
            const item = Array.isArray(cursor) ? (cursor[part] as { name?: unknown }) : undefined;
            key = itemKey(key, item, part);
        } else {
            key = key === "" ? String(part) : `${key}.${String(part)}`;
        }
        cursor = cursor && typeof cursor === "object" ? (cursor as Record<PropertyKey, unknown>)[part] : undefined;
    }
    return key;
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
    let cursor: unknown = raw;
    for (const part of path) cursor = cursor && typeof cursor === "object" ? (cursor as Record<PropertyKey, unknown>)[part] : undefined;
    return cursor;
}

function zodProblems(raw: unknown, error: z.ZodError): Problem[] {
    return error.issues.flatMap((issue) => {
        if (issue.code === "unrecognized_keys") {
            // One problem per key, with the value it was set to: an unknown key is set, never "(unset)".
            const base = issueKey(raw, issue.path);
            return issue.keys.map((k) =>
                problem(
                    base === "" ? k : `${base}.${k}`,
                    valueAt(raw, [...issue.path, k]),
                    "is not a known key; check its spelling against the config reference (docs/configuration.md).",
                ),
            );
        }
        const key = issueKey(raw, issue.path);
        const value = valueAt(raw, issue.path);
        if (issue.code === "invalid_value") {
            return [problem(key, value, `is not one of ${issue.values.map(String).join(", ")}; use one of them.`)];
        }
        if (issue.code === "invalid_type" && value === undefined) {
            return [problem(key, value, `is required (${issue.expected}); set it in the stack config.`)];
        }
        return [problem(key, value, `${issue.message}; fix the value in the stack config.`)];
    });
}

/** Every problem of the config at once: types and defaults (zod), then the rules that span keys. */
export function validateConfig(raw: unknown, secrets: RawSecrets, env: ConfigEnv): Validation {
    const plaintext = env.plaintextSecretKeys.map((k) =>
        problem(k, SECRET_VALUE, `is stored in plaintext; set it again with \`pulumi config set --secret ${qualifiedKey(k)}\`.`),
    );
    const parsed = rawConfigSchema.safeParse(raw ?? {});
    if (!parsed.success) return { ok: false, problems: [...plaintext, ...zodProblems(raw, parsed.error)] };
    const problems = [...plaintext, ...RULES.flatMap((rule) => rule(parsed.data, secrets, env))];
    return problems.length > 0 ? { ok: false, problems } : { ok: true, config: parsed.data };
}

/**
 * Validates the config, then derives what the components need (config/derive.ts). Pure: the world
 * outside the config comes in through `env`, and secrets are wrapped by `wrapSecret` (pulumi.secret in
 * the program).
 */
export function resolveConfig(raw: unknown, secrets: RawSecrets, env: ConfigEnv, wrapSecret: WrapSecret = (s) => s): Resolution {
    const v = validateConfig(raw, secrets, env);
    return v.ok ? { ok: true, config: deriveConfig(v.config, secrets, env, wrapSecret) } : v;
}
