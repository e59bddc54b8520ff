import { execFile } from "child_process";
import { promisify } from "util";
import { collectRaw, fileSha256, realDir } from "../components/config/load";
import { ConfigError } from "../components/config/problems";
import { resolveConfig } from "../components/config/resolve";
import { SECRET_KEYS } from "../components/config/schema";
import type { CalicoConfig, ConfigEnv, RawSecrets } from "../components/config/types";

const run = promisify(execFile);

/** One entry of `pulumi config --json`: a secret's value is left out unless --show-secrets, which verify never passes. */
export interface ConfigEntry {
    value?: string;
    secret?: boolean;
}

export interface StackSource {
    stack?: string;
    configFile?: string;
}

async function pulumiJson(args: string[], src: StackSource): Promise<unknown> {
    const full = [
        ...args,
        "--json",
        ...(src.stack ? ["--stack", src.stack] : []),
        ...(src.configFile ? ["--config-file", src.configFile] : []),
    ];
    let stdout: string;
    try {
        ({ stdout } = await run("pulumi", full, { maxBuffer: 64 * 1024 * 1024 }));
    } catch (e) {
        const err = e as { code?: unknown; stderr?: string; message?: string };
        if (err.code === "ENOENT")
            throw new Error("the pulumi CLI is not on PATH; install it (https://www.pulumi.com/docs/install/) or source sandbox/env.sh");
        throw new Error(`\`pulumi ${full.join(" ")}\` failed: ${(err.stderr ?? err.message ?? "").trim()}`);
    }
    return JSON.parse(stdout);
}

/**
 * The stack's config through the program's own validator (components/config/), from its entries: secret
 * values are not read, only whether each is set, so the rules check presence, not content.
 */
export function resolveFromEntries(
    entries: Record<string, ConfigEntry>,
    files: Pick<ConfigEnv, "fileSha256" | "realDir"> = { fileSha256, realDir },
): CalicoConfig {
    const values: Record<string, string> = {};
    const secrets: Record<string, unknown> = {};
    const plaintextSecretKeys: string[] = [];
    const hiddenNonSecret: string[] = [];
    for (const [full, e] of Object.entries(entries)) {
        const [ns, key] = full.split(":");
        if (ns !== "calico" || !key) continue;
        if ((SECRET_KEYS as readonly string[]).includes(key)) {
            if (!e.secret) plaintextSecretKeys.push(key);
            secrets[key] = key === "sshPrivateKeys" ? {} : "";
        } else if (e.value !== undefined) {
            values[full] = e.value;
        } else if (e.secret) {
            hiddenNonSecret.push(full);
        }
    }
    if (hiddenNonSecret.length > 0) {
        throw new Error(
            `${hiddenNonSecret.join(", ")}: set as secret; verify reads the config without secrets, so set ${hiddenNonSecret.length === 1 ? "it" : "them"} in plaintext (they are not secret keys).`,
        );
    }
    const result = resolveConfig(collectRaw(values), secrets as RawSecrets, {
        ...files,
        plaintextSecretKeys,
        secretValuesHidden: true,
        sshAuthSock: undefined,
    });
    if (!result.ok) throw new ConfigError(result.problems);
    return result.config;
}

export async function loadStackConfig(src: StackSource): Promise<CalicoConfig> {
    return resolveFromEntries((await pulumiJson(["config"], src)) as Record<string, ConfigEntry>);
}

/** The stack's outputs without --show-secrets: secret ones read "[secret]", and verify uses none of them. */
export async function loadStackOutputs(src: StackSource): Promise<Record<string, unknown>> {
    return (await pulumiJson(["stack", "output"], { stack: src.stack })) as Record<string, unknown>;
}
