import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { type ConfigEntry, rawInput, resolveEntries } from "../components/config/entries";
import { fileSha256, realDir } from "../components/config/load";
import type { CalicoConfig, ConfigEnv } from "../components/config/types";

const run = promisify(execFile);

export interface StackSource {
    stack?: string;
    configFile?: string;
}

/**
 * `pulumi <args> --json` on the stack, read-only. A command without `--config-file` (`stack output`,
 * `stack export`, `stack history`) runs from a scratch copy of the project holding the config file as the
 * stack's own: reading the stack, the CLI writes a missing encryptionsalt into the stack file of its cwd,
 * and in the project that is often a committed file.
 */
export async function pulumiRead(args: string[], src: StackSource & { projectDir?: string }, takesConfigFile = false): Promise<string> {
    const projectDir = src.projectDir ?? process.cwd();
    const full = [...args, "--non-interactive", ...(src.stack ? ["--stack", src.stack] : [])];
    let cwd = projectDir;
    let scratch: string | undefined;
    if (src.configFile && takesConfigFile) full.push("--config-file", src.configFile);
    else if (src.configFile && src.stack) {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-read-"));
        fs.copyFileSync(path.join(projectDir, "Pulumi.yaml"), path.join(scratch, "Pulumi.yaml"));
        fs.copyFileSync(src.configFile, path.join(scratch, `Pulumi.${src.stack}.yaml`));
        cwd = scratch;
    }
    try {
        return (await run("pulumi", full, { cwd, env: process.env, maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (e) {
        const err = e as { code?: unknown; stderr?: string; message?: string };
        if (err.code === "ENOENT")
            throw new Error("the pulumi CLI is not on PATH; install it (https://www.pulumi.com/docs/install/) or source sandbox/env.sh");
        throw new Error(`\`pulumi ${full.join(" ")}\` failed: ${(err.stderr ?? err.message ?? "").trim()}`);
    } finally {
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    }
}

async function pulumiJson(args: string[], src: StackSource, takesConfigFile: boolean): Promise<unknown> {
    return JSON.parse(await pulumiRead([...args, "--json"], src, takesConfigFile));
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
    return resolveFromEntries((await pulumiJson(["config"], src, true)) as Record<string, ConfigEntry>);
}

/** The stack's outputs without --show-secrets: secret ones read "[secret]", and verify uses none of them. */
export async function loadStackOutputs(src: StackSource): Promise<Record<string, unknown>> {
    return (await pulumiJson(["stack", "output"], src, false)) as Record<string, unknown>;
}
