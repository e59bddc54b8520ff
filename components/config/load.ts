import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, formatProblem } from "./problems";
import { poolHistoryRules, poolRemovalWarnings } from "./rules/poolHistory";
import { SECRET_KEYS } from "./schema";
import type { CalicoConfig, ConfigEnv, PreviousPool, RawSecrets } from "./types";
import { resolveConfig } from "./resolve";
import { cachedFileSha256 } from "./fileHash";

export const NAMESPACE = "calico";

/** A config value as the engine hands it over (a string), parsed as JSON where it is JSON (objects, numbers, booleans). */
export function parseConfigValue(text: string | undefined): unknown {
    if (text === undefined) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}

function readRaw(key: string): unknown {
    return parseConfigValue(pulumi.runtime.getConfig(`${NAMESPACE}:${key}`));
}

/**
 * The `calico:*` keys of a stack, from `full key -> value` (the engine's, or `pulumi config --json`'s):
 * schema keys and unknown ones, which validation reports like misspelt nested keys. Secret keys are
 * left out; they are read on their own.
 */
export function collectRaw(values: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [full, text] of Object.entries(values)) {
        const [ns, key] = full.split(":");
        if (ns === NAMESPACE && key && !(SECRET_KEYS as readonly string[]).includes(key)) raw[key] = parseConfigValue(text);
    }
    return raw;
}

function isSecret(key: string, namespace = NAMESPACE): boolean {
    // The engine lists secret keys for the program; older SDKs lack the helper, so treat unknown as secret.
    const fn = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
    return fn ? fn(`${namespace}:${key}`) : true;
}

/** sha256 of a local file the config names, or undefined when it is not a readable file (config/fileHash.ts). */
export const fileSha256 = cachedFileSha256();

export function realDir(path: string): string {
    try {
        return fs.realpathSync(path);
    } catch {
        return path;
    }
}

/** Reads every `calico:*` key, validates it all at once (throwing one error listing every problem) and resolves it. */
export function loadConfig(): CalicoConfig {
    const values: Record<string, string> = {};
    for (const full of Object.keys(pulumi.runtime.allConfig())) {
        const v = pulumi.runtime.getConfig(full);
        if (v !== undefined) values[full] = v;
    }
    const raw = collectRaw(values);
    const secrets: RawSecrets = {};
    const plaintextSecretKeys: string[] = [];
    for (const key of SECRET_KEYS) {
        const v = readRaw(key);
        if (v === undefined) continue;
        if (!isSecret(key)) plaintextSecretKeys.push(key);
        (secrets as Record<string, unknown>)[key] = key === "sshPrivateKeys" ? v : String(v);
    }
    // An explicit alicloud provider ignores the alicloud: namespace, so its credentials are handed on from here.
    secrets.alicloudAccessKey = pulumi.runtime.getConfig("alicloud:accessKey");
    secrets.alicloudSecretKey = pulumi.runtime.getConfig("alicloud:secretKey");
    if (secrets.alicloudSecretKey !== undefined && !isSecret("secretKey", "alicloud")) plaintextSecretKeys.push("alicloud:secretKey");
    const env: ConfigEnv = {
        fileSha256,
        realDir,
        plaintextSecretKeys,
        secretValuesHidden: false,
        sshAuthSock: process.env.SSH_AUTH_SOCK || undefined,
    };
    const result = resolveConfig(raw, secrets, env, (s) => pulumi.secret(s));
    if (!result.ok) throw new ConfigError(result.problems);
    return result.config;
}

/**
 * Compares the validated config's pools with the ones the stack's last update exported (`previous`):
 * rejects with a ConfigError for a pool whose range changed in place, and logs a warning for each enabled
 * pool removed. Awaited before any Calico resource is registered (index.ts): the engine then holds the
 * warnings before anything can fail, and shows them even when a later step aborts the preview.
 */
export async function checkPoolHistory(config: CalicoConfig, previous: readonly PreviousPool[]): Promise<void> {
    const problems = poolHistoryRules(config.pools, previous);
    if (problems.length > 0) throw new ConfigError(problems);
    for (const w of poolRemovalWarnings(config.pools, previous)) await pulumi.log.warn(formatProblem(w));
}
