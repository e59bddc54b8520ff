import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import type { RawConfig } from "../components/config/schema";
import type { CalicoConfig, ConfigEnv, RawSecrets } from "../components/config/types";
import { type ConfigEntry, NAMESPACE, rawInput } from "../components/config/entries";
import { formatProblem } from "../components/config/problems";
import { resolveConfig } from "../components/config/resolve";

export const ROOT = path.resolve(__dirname, "..");
export const REFERENCE = path.resolve(ROOT, "../shared/reference/calico-v3.32.1");
/** Tests apply the pinned CRDs from the reference copy instead of fetching the release URL. */
export const CRDS_FILE = path.join(REFERENCE, "crds.yaml");

const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 });
/** A real PEM key, for secret config values in tests. */
export const TEST_KEY_PEM = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
export const TEST_CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtestcertificate\n-----END CERTIFICATE-----\n";

/** A fake file system: every local binary exists with a sha256 derived from its path. */
export const fakeEnv: ConfigEnv = {
    fileSha256: (p) => crypto.createHash("sha256").update(p).digest("hex"),
    realDir: (p) => p,
    plaintextSecretKeys: [],
    secretValuesHidden: false,
    sshAuthSock: "/run/test-agent.sock",
};

/** The hard-way lab as raw config, with the CA given directly and an SSH key. */
/** A raw config whose node list is given (the schema defaults it to empty). */
export type LabRaw = RawConfig & { nodes: NonNullable<RawConfig["nodes"]> };

export function labRaw(): LabRaw {
    return {
        cluster: { podCidr: "10.244.0.0/16", apiServer: "https://172.16.0.11:6443", caCert: TEST_CERT_PEM },
        nodes: [
            { name: "cka001", address: "172.16.0.11" },
            { name: "cka002", address: "172.16.0.12" },
            { name: "cka003", address: "172.16.0.13" },
        ],
        pools: [
            { name: "ipv4-ippool-1", cidr: "10.244.0.0/18" },
            { name: "ipv4-ippool-2", cidr: "10.244.192.0/19", disabled: true },
        ],
        cni: { localBinDir: "./cni-bin" },
        datastore: { crdsFile: CRDS_FILE },
    };
}

export function labSecrets(): RawSecrets {
    return { clusterCaKey: TEST_KEY_PEM, sshPrivateKey: TEST_KEY_PEM };
}

/** Resolves, or throws with every problem listed. */
export function resolvedConfig(raw: unknown = labRaw(), secrets: RawSecrets = labSecrets(), env: ConfigEnv = fakeEnv): CalicoConfig {
    const v = resolveConfig(raw, secrets, env);
    if (!v.ok) throw new Error(v.problems.map((p) => `${p.key}: ${p.message}`).join("\n"));
    return v.config;
}

export interface StackFile {
    file: string;
    raw: Record<string, unknown>;
    secrets: RawSecrets;
}

/** A stand-in for a secret config value: a PEM certificate for `...Cert` keys, a PEM key otherwise. */
function testSecret(key: string): string {
    return /Cert$/.test(key) ? TEST_CERT_PEM : TEST_KEY_PEM;
}

/**
 * Every Pulumi.<stack>.yaml in the repo, as the program's reader (config/entries.ts) maps its `calico:`
 * entries. `secure:` values, and secrets the file's comments tell the user to set (`pulumi config set
 * --secret calico:<key>`), become test secrets.
 */
export function stackFiles(): StackFile[] {
    return fs
        .readdirSync(ROOT)
        .filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f))
        .sort()
        .map((file) => {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            const doc = parse(text) ?? {};
            const entries: Record<string, ConfigEntry> = {};
            for (const m of text.matchAll(new RegExp(`^\\s*#.*pulumi config set --secret ${NAMESPACE}:(\\w+)`, "gm")))
                entries[`${NAMESPACE}:${m[1]}`] = { value: testSecret(m[1]!), secret: true };
            for (const [full, value] of Object.entries((doc.config ?? {}) as Record<string, unknown>)) {
                const [ns, key] = full.split(":");
                if (ns !== NAMESPACE || !key) continue;
                entries[full] =
                    value && typeof value === "object" && "secure" in (value as object)
                        ? { value: testSecret(key), secret: true }
                        : { value: typeof value === "string" ? value : JSON.stringify(value), secret: false };
            }
            const { raw, secrets } = rawInput(entries);
            return { file, raw, secrets };
        });
}

/**
 * Sets the stack config as `pulumi up` hands it to the program (values JSON-encoded, `secretKeys` marked
 * secret), loads index.ts afresh and runs the async function it exports, as the engine does. Returns the
 * stack outputs it resolves to, or the message it threw or rejected with.
 */
export async function runProgram(config: Record<string, unknown>, secretKeys: string[]): Promise<{ exports?: any; error?: string }> {
    const all: Record<string, string> = {};
    for (const [k, v] of Object.entries(config))
        all[k.includes(":") ? k : `${NAMESPACE}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    // Imported here so fixtures stays usable before the mocks are set.
    require("@pulumi/pulumi").runtime.setAllConfig(all, secretKeys);
    const out: { exports?: any; error?: string } = {};
    await jest.isolateModulesAsync(async () => {
        try {
            const main = require("../index") as () => Promise<Record<string, unknown>>;
            out.exports = await main();
        } catch (e) {
            out.error = (e as Error).message;
        }
    });
    return out;
}

/** Changes a config (and its secrets) in place, for validation table tests. */
export type Mutate = (raw: any, secrets: RawSecrets) => void;

/** The formatted problems of a config built from `start` (the lab by default) after `mutate`. */
export function problemsOf(mutate: Mutate, opts: { start?: () => any; secrets?: () => RawSecrets; env?: ConfigEnv } = {}): string[] {
    const raw = (opts.start ?? labRaw)();
    const secrets = (opts.secrets ?? labSecrets)();
    mutate(raw, secrets);
    const v = resolveConfig(raw, secrets, opts.env ?? fakeEnv);
    return v.ok ? [] : v.problems.map((p) => formatProblem(p));
}
