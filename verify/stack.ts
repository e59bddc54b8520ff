import { execFile } from "child_process";
import { promisify } from "util";
import { type ConfigEntry, rawInput, resolveEntries } from "../components/config/entries";
import { fileSha256, realDir } from "../components/config/load";
import type { CalicoConfig, ConfigEnv } from "../components/config/types";

const run = promisify(execFile);

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
 * The stack's config through the program's own reader and validator (components/config/entries.ts), from
 * its entries: secret values are not read, only whether each is set, so the rules check presence, not content.
 */
export function resolveFromEntries(
    entries: Record<string, ConfigEntry>,
    files: Pick<ConfigEnv, "fileSha256" | "realDir"> = { fileSha256, realDir },
): CalicoConfig {
    const { hiddenNonSecret } = rawInput(entries);
    if (hiddenNonSecret.length > 0) {
        throw new Error(
            `${hiddenNonSecret.join(", ")}: set as secret; verify reads the config without secrets, so set ${hiddenNonSecret.length === 1 ? "it" : "them"} in plaintext (they are not secret keys).`,
        );
    }
    return resolveEntries(entries, { ...files, secretValuesHidden: true, sshAuthSock: undefined });
}

export async function loadStackConfig(src: StackSource): Promise<CalicoConfig> {
    // Without --show-secrets, which verify never passes, a secret entry has no value.
    return resolveFromEntries((await pulumiJson(["config"], src)) as Record<string, ConfigEntry>);
}

/** The stack's outputs without --show-secrets: secret ones read "[secret]", and verify uses none of them. */
export async function loadStackOutputs(src: StackSource): Promise<Record<string, unknown>> {
    return (await pulumiJson(["stack", "output"], { stack: src.stack })) as Record<string, unknown>;
}
