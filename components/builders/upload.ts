import * as crypto from "crypto";
import type { CniBinary } from "../config/types";

/**
 * What each node's `<node>-cni-upload` sends: the staged scripts every node runs (builders/hostBundle.ts)
 * and the configured local binaries only (not the rest of `cni.localBinDir`, which often holds every
 * containernetworking plugin), each distinct content once (the release's `calico-ipam` is the `calico`
 * binary again) and gzipped: an `up` over many nodes spends its time sending these, so each node gets as
 * few bytes as it needs. The host checks the sha256 of what it unpacks, so nothing is
 * trusted for having come this way.
 */
export interface UploadPlan {
    /** sha256 over the scripts and the binaries' names and sha256s: names the staged folder, and changes when any of them does. */
    digest: string;
    /** One per distinct sha256: the local file to gzip into `<sha256>.gz`. */
    files: { sha256: string; from: string }[];
    /** Written as they are, by name. */
    scripts: { name: string; content: string }[];
    /** The public heads of host files (see FramedFile.head), each written as `<sha256>.head`, sorted by sha256. */
    heads: { sha256: string; content: string }[];
}

/** The staged name of a binary's content, in the upload and on the host. */
export function stagedName(sha256: string): string {
    return `${sha256}.gz`;
}

/** The staged name of a host file's head (FramedFile.head), in the upload and on the host. */
export function stagedHeadName(sha256: string): string {
    return `${sha256}.head`;
}

export const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");

/** sha256 over the scripts, the heads and the local binaries' names and sha256s: changes when any of them does. */
export function bundleDigest(binaries: CniBinary[], scripts: UploadPlan["scripts"], heads: string[] = []): string {
    const local = binaries.flatMap((b) => (b.source === "local" ? [`${b.name} ${b.sha256}\n`] : []));
    const staged = scripts.map((s) => `${s.name} ${sha256(s.content)}\n`);
    const parts = [...new Set(heads.map(sha256))].sort().map((h) => `${stagedHeadName(h)} ${h}\n`);
    return sha256([...local, ...staged, ...parts].join(""));
}

/** The upload of these scripts, host file heads and binaries (a binary the hosts download is not in it). */
export function uploadPlan(binaries: CniBinary[], scripts: UploadPlan["scripts"], heads: string[] = []): UploadPlan {
    const files = new Map<string, string>();
    for (const b of binaries) if (b.source === "local" && !files.has(b.sha256)) files.set(b.sha256, b.path);
    const parts = new Map(heads.map((h) => [sha256(h), h]));
    return {
        digest: bundleDigest(binaries, scripts, heads),
        files: [...files].map(([sha, from]) => ({ sha256: sha, from })).sort((a, b) => a.sha256.localeCompare(b.sha256)),
        scripts: [...scripts].sort((a, b) => a.name.localeCompare(b.name)),
        heads: [...parts].map(([sha, content]) => ({ sha256: sha, content })).sort((a, b) => a.sha256.localeCompare(b.sha256)),
    };
}
