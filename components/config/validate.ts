import type { z } from "zod";
import { calicoImages } from "../versions";
import { Problem, SECRET_VALUE, itemKey, problem, qualifiedKey } from "./problems";
import { aliyunRules } from "./rules/aliyun";
import { bgpRules } from "./rules/bgp";
import { calicoNodeRules } from "./rules/calicoNode";
import { clusterRules } from "./rules/cluster";
import { cniRules, requiredCniBinaries } from "./rules/cni";
import { datastoreRules } from "./rules/datastore";
import { ipamRules } from "./rules/ipam";
import { networkRules } from "./rules/network";
import { nodeRules } from "./rules/nodes";
import { ParsedConfig, rawConfigSchema } from "./schema";
import type { CalicoConfig, CniBinary, ConfigEnv, RawSecrets, Secrets } from "./types";

/** One rule set per concern; each sees the whole parsed config and returns every problem it finds. */
export type Rule = (cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv) => Problem[];

export const RULES: Rule[] = [
    (cfg, secrets) => clusterRules(cfg, secrets),
    (cfg) => networkRules(cfg),
    (cfg, secrets) => nodeRules(cfg, secrets),
    (cfg, _s, env) => cniRules(cfg, env),
    (cfg) => calicoNodeRules(cfg),
    (cfg) => bgpRules(cfg),
    (cfg) => ipamRules(cfg),
    (cfg, secrets) => datastoreRules(cfg, secrets),
    (cfg) => aliyunRules(cfg),
];

export type Validation = { ok: true; config: CalicoConfig } | { ok: false; problems: Problem[] };

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
    return error.issues.map((issue) => {
        if (issue.code === "unrecognized_keys") {
            const base = issueKey(raw, issue.path);
            return problem(
                base === "" ? issue.keys.join(", ") : `${base}.${issue.keys.join(", ")}`,
                undefined,
                "is not a known key; check its spelling against the README's config reference.",
            );
        }
        const key = issueKey(raw, issue.path);
        const value = valueAt(raw, issue.path);
        if (issue.code === "invalid_value") {
            return problem(key, value, `is not one of ${issue.values.map(String).join(", ")}; use one of them.`);
        }
        if (issue.code === "invalid_type" && value === undefined) {
            return problem(key, value, `is required (${issue.expected}); set it in the stack config.`);
        }
        return problem(key, value, `${issue.message}; fix the value in the stack config.`);
    });
}

/** Pod MTU: the configured one, or the network MTU less the encapsulation overhead of the pools in use. */
export function derivePodMtu(cfg: ParsedConfig): number {
    if (cfg.cni.mtu !== undefined) return cfg.cni.mtu;
    const enabled = cfg.pools.filter((p) => !p.disabled);
    const pools = enabled.length > 0 ? enabled : cfg.pools;
    const vxlan = pools.some((p) => p.vxlanMode !== "Never");
    const ipip = pools.some((p) => p.ipipMode !== "Never");
    const v6 = pools.some((p) => p.cidr.includes(":"));
    const overhead = vxlan ? (v6 ? 70 : 50) : ipip ? 20 : 0;
    return cfg.cluster.networkMtu - overhead;
}

function cniBinaries(cfg: ParsedConfig, env: ConfigEnv): CniBinary[] {
    return requiredCniBinaries(cfg).map((name): CniBinary => {
        const d = cfg.cni.downloads[name];
        if (d) return { name, source: "download", url: d.url, sha256: d.sha256, archiveMember: d.archiveMember };
        const path = `${(cfg.cni.localBinDir ?? "").replace(/\/+$/, "")}/${name}`;
        return { name, source: "local", path, sha256: env.fileSha256(path) ?? "" };
    });
}

/**
 * Validates the whole config at once and derives what the components need. Pure: the world outside the
 * config comes in through `env`, and secrets are wrapped by `wrapSecret` (pulumi.secret in the program).
 */
export function validateConfig(
    raw: unknown,
    secrets: RawSecrets,
    env: ConfigEnv,
    wrapSecret: (s: string) => import("@pulumi/pulumi").Input<string> = (s) => s,
): Validation {
    const plaintext = env.plaintextSecretKeys.map((k) =>
        problem(k, SECRET_VALUE, `is stored in plaintext; set it again with \`pulumi config set --secret ${qualifiedKey(k)}\`.`),
    );
    const parsed = rawConfigSchema.safeParse(raw ?? {});
    if (!parsed.success) return { ok: false, problems: [...plaintext, ...zodProblems(raw, parsed.error)] };
    const cfg = parsed.data;
    const problems = [...plaintext, ...RULES.flatMap((rule) => rule(cfg, secrets, env))];
    if (problems.length > 0) return { ok: false, problems };

    const sshKeys: Secrets["sshKeys"] = {};
    for (const n of cfg.nodes) {
        const key = secrets.sshPrivateKeys?.[n.name] ?? secrets.sshPrivateKey;
        sshKeys[n.name] = key === undefined ? undefined : wrapSecret(key);
    }
    const etcd =
        secrets.etcdCaCert !== undefined && secrets.etcdCert !== undefined && secrets.etcdKey !== undefined
            ? { caCert: wrapSecret(secrets.etcdCaCert), cert: wrapSecret(secrets.etcdCert), key: wrapSecret(secrets.etcdKey) }
            : undefined;
    // Lists sorted by name: the order config lists them in never changes what is built.
    const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => a.name.localeCompare(b.name));
    return {
        ok: true,
        config: {
            ...cfg,
            nodes: byName(cfg.nodes),
            pools: byName(cfg.pools),
            bgp: { ...cfg.bgp, peers: byName(cfg.bgp.peers) },
            images: calicoImages(cfg.calicoVersion, cfg.registry),
            mtu: derivePodMtu(cfg),
            cniBinaries: cniBinaries(cfg, env),
            secrets: {
                clusterCaKey: secrets.clusterCaKey === undefined ? undefined : wrapSecret(secrets.clusterCaKey),
                sshKeys,
                etcd,
                alicloud: {
                    accessKey: secrets.alicloudAccessKey === undefined ? undefined : wrapSecret(secrets.alicloudAccessKey),
                    secretKey: secrets.alicloudSecretKey === undefined ? undefined : wrapSecret(secrets.alicloudSecretKey),
                },
            },
        },
    };
}
