import { ConfigError } from "./problems";
import { resolveConfig } from "./resolve";
import { SECRET_KEYS, type SecretKey } from "./schema";
import type { WrapSecret } from "./derive";
import type { CalicoConfig, ConfigEnv, RawSecrets } from "./types";

/**
 * The one reader of a stack's config entries, for the program (the engine's config) and for `npm run
 * verify` (`pulumi config --json`): both hand their entries here, so both validate the same input.
 */

/** Every key the program reads is `calico:<key>`. */
export const NAMESPACE = "calico";

/** One stack config entry, by its full key. `value` is absent for a secret whose value was not read (verify). */
export interface ConfigEntry {
    value?: string;
    secret?: boolean;
}

/** What the validator takes (resolveConfig), from the entries. */
export interface RawInput {
    /** The non-secret `calico:*` keys, known or not (validation reports unknown ones like misspelt nested keys). */
    raw: Record<string, unknown>;
    secrets: RawSecrets;
    /** Secret keys set in plaintext, by the key validation names. */
    plaintextSecretKeys: string[];
    /** Non-secret keys set as secret whose value was not read: nothing can validate them. */
    hiddenNonSecret: string[];
}

/**
 * Keys of other namespaces handed on as secrets: an explicit alicloud provider ignores the `alicloud:`
 * namespace. `mustBeSecret` keys set in plaintext are reported.
 */
const FOREIGN_SECRETS: Record<string, { field: "alicloudAccessKey" | "alicloudSecretKey"; mustBeSecret: boolean }> = {
    "alicloud:accessKey": { field: "alicloudAccessKey", mustBeSecret: false },
    "alicloud:secretKey": { field: "alicloudSecretKey", mustBeSecret: true },
};

/** A config value as the engine hands it over (a string), parsed as JSON where it is JSON (objects, numbers, booleans). */
export function parseConfigValue(text: string | undefined): unknown {
    if (text === undefined) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

function isSecretKey(key: string): key is SecretKey {
    return (SECRET_KEYS as readonly string[]).includes(key);
}

/**
 * A secret key's value: `sshPrivateKeys` is a map of node name to key, the others are text. A value not
 * read stands in as empty, so the rules see the key set (they check presence only then).
 */
function secretValue(key: SecretKey, text: string | undefined): unknown {
    if (key === "sshPrivateKeys") return text === undefined ? {} : parseConfigValue(text);
    return text === undefined ? "" : String(parseConfigValue(text));
}

/** Maps a stack's entries (any namespace) to the validator's input; secret keys in SECRET_KEYS' order. */
export function rawInput(entries: Record<string, ConfigEntry>): RawInput {
    const out: RawInput = { raw: {}, secrets: {}, plaintextSecretKeys: [], hiddenNonSecret: [] };
    const secrets = out.secrets as Record<string, unknown>;
    for (const key of SECRET_KEYS) {
        const e = entries[`${NAMESPACE}:${key}`];
        if (e === undefined) continue;
        secrets[key] = secretValue(key, e.value);
        if (!e.secret) out.plaintextSecretKeys.push(key);
    }
    for (const [full, { field, mustBeSecret }] of Object.entries(FOREIGN_SECRETS)) {
        const e = entries[full];
        secrets[field] = e?.value;
        if (e?.value !== undefined && mustBeSecret && !e.secret) out.plaintextSecretKeys.push(full);
    }
    for (const [full, e] of Object.entries(entries)) {
        const [ns, key] = full.split(":");
        if (ns !== NAMESPACE || !key || isSecretKey(key)) continue;
        if (e.value !== undefined) out.raw[key] = parseConfigValue(e.value);
        else if (e.secret) out.hiddenNonSecret.push(full);
    }
    return out;
}

/** Validates a stack's entries (every problem at once, thrown as one ConfigError) and resolves them. */
export function resolveEntries(
    entries: Record<string, ConfigEntry>,
    env: Omit<ConfigEnv, "plaintextSecretKeys">,
    wrapSecret?: WrapSecret,
): CalicoConfig {
    const input = rawInput(entries);
    const result = resolveConfig(input.raw, input.secrets, { ...env, plaintextSecretKeys: input.plaintextSecretKeys }, wrapSecret);
    if (!result.ok) throw new ConfigError(result.problems);
    return result.config;
}
