import * as crypto from "crypto";
import type { CniBinary } from "../config/types";

/**
 * What each node's `<node>-cni-upload` sends: the configured local binaries only (not the rest of
 * `cni.localBinDir`, which often holds every containernetworking plugin), each distinct content once (the
 * release's `calico-ipam` is the `calico` binary again) and gzipped. That is what an `up` over many nodes
 * spends its time on: 173 MB per node for the sandbox's folder, about 30 MB this way. The host checks the
 * sha256 of what it unpacks, so nothing is trusted for having come this way.
 */
export interface UploadPlan {
    /** sha256 over the binaries' names and sha256s: names the staged folder, and changes when any binary does. */
    digest: string;
    /** One per distinct sha256: the local file to gzip into `<sha256>.gz`. */
    files: { sha256: string; from: string }[];
}

/** The staged name of a binary's content, in the upload and on the host. */
export function stagedName(sha256: string): string {
    return `${sha256}.gz`;
}

/** sha256 over the local binaries' names and sha256s: changes when any of them does. */
export function bundleDigest(binaries: CniBinary[]): string {
    const local = binaries.flatMap((b) => (b.source === "local" ? [`${b.name} ${b.sha256}\n`] : []));
    return crypto.createHash("sha256").update(local.join("")).digest("hex");
}

/** The upload for these binaries; undefined when none is local (the hosts download them all). */
export function uploadPlan(binaries: CniBinary[]): UploadPlan | undefined {
    const files = new Map<string, string>();
    for (const b of binaries) if (b.source === "local" && !files.has(b.sha256)) files.set(b.sha256, b.path);
    if (files.size === 0) return undefined;
    return {
        digest: bundleDigest(binaries),
        files: [...files].map(([sha256, from]) => ({ sha256, from })).sort((a, b) => a.sha256.localeCompare(b.sha256)),
    };
}
