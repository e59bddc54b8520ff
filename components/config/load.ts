import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, formatProblem } from "./problems";
import { poolHistoryRules, poolRemovalWarnings } from "./rules/poolHistory";
import { type ConfigEntry, resolveEntries } from "./entries";
import type { CalicoConfig, PreviousPool } from "./types";
import { cachedFileSha256 } from "./fileHash";

/**
 * The engine's config as entries (config/entries.ts). The engine lists secret keys for the program;
 * older SDKs lack the helper, so an unknown key counts as secret.
 */
export function engineEntries(): Record<string, ConfigEntry> {
    const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
    const entries: Record<string, ConfigEntry> = {};
    for (const full of Object.keys(pulumi.runtime.allConfig())) {
        const value = pulumi.runtime.getConfig(full);
        if (value !== undefined) entries[full] = { value, secret: isSecret ? isSecret(full) : true };
    }
    return entries;
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
    const env = { fileSha256, realDir, secretValuesHidden: false, sshAuthSock: process.env.SSH_AUTH_SOCK || undefined };
    return resolveEntries(engineEntries(), env, (s) => pulumi.secret(s));
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
