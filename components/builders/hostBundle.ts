import { type CleanupOptions, dataplaneCleanupScript } from "./dataplaneCleanup";
import type { CniBinary } from "../config/types";
import { CNI_HOST_RECORD, LEGACY_CNI_HOST_RECORD, CNI_UPLOAD_DIR, cniKubeconfigPath, conflistPath } from "../facts/names";
import { type InstallBinary, cniInstallScript, cniUninstallScript, hostUninstallPath, shq } from "./hostScripts";
import { type PreflightChecks, type PreflightOptions, type PreflightPlan, preflightArgs, preflightChecks } from "./preflight";

/**
 * The two scripts every node of a config runs alike, staged beside the binaries and uploaded with them
 * (builders/upload.ts), so that each node's `<node>-cni-install` holds one line per action instead of
 * the scripts themselves: the engine keeps a resource's inputs and again its outputs, and the scripts
 * would be about half of each node's state. The staged folder is named by a digest of the scripts
 * and the binaries, so a changed script is a new folder, a new upload and a changed command: `pulumi
 * preview` shows it, and `hostBundle` shows what the scripts hold.
 */

/** The staged install: the host checks, the binaries, the files from stdin. */
export const INSTALL_SCRIPT = "install.sh";
/** The staged delete, copied next to the host's record by the install before it writes anything. */
export const UNINSTALL_SCRIPT = "uninstall.sh";

export interface HostBundlePlan {
    /** CNI binary directory (`calico:cni.binDir`). */
    binDir: string;
    /** CNI config directory (`calico:cni.confDir`). */
    confDir: string;
    binaries: CniBinary[];
    /** The paths of the host files on stdin beyond the kubeconfig and the conflist (e.g. etcd client TLS). */
    extraPaths: string[];
    preflight: PreflightChecks;
    /** Tests point the checks elsewhere. */
    preflightOptions?: PreflightOptions;
    /** The host's record of what the install wrote (tests put it elsewhere). */
    recordPath?: string;
    /** The record's former path, moved to recordPath by the install (default: the real one's, with the real record). */
    legacyRecordPath?: string;
    /** Tests point the dataplane cleanup elsewhere. */
    cleanupOptions?: CleanupOptions;
    /** Run after the files are in place (e.g. NetworkManager reading its new rule); "" for nothing. */
    afterInstall: string;
}

/** A configured binary as the install takes it (no local path: the upload holds it by sha256). */
function installBinary(b: CniBinary): InstallBinary {
    return b.source === "local"
        ? { name: b.name, source: b.source, sha256: b.sha256 }
        : { name: b.name, source: b.source, sha256: b.sha256, url: b.url, archiveMember: b.archiveMember };
}

/** The staged scripts, by file name. */
export function hostBundle(plan: HostBundlePlan): { name: string; content: string }[] {
    const record = plan.recordPath ?? CNI_HOST_RECORD;
    const legacy = plan.legacyRecordPath ?? legacyRecordOf(record);
    const uninstall = hostUninstallPath(record);
    const kubeconfigPath = cniKubeconfigPath(plan.confDir);
    const written = [
        conflistPath(plan.confDir),
        kubeconfigPath,
        ...plan.extraPaths,
        ...plan.binaries.map((b) => `${plan.binDir}/${b.name}`),
    ];
    const install = [
        "set -eu",
        // A node's own: its name and the peers its preflight checks (preflightArgs).
        "node=$1 peers=${2:-}",
        preflightChecks(plan.preflight, plan.preflightOptions),
        legacy ? moveLegacyRecord(legacy, record) : "",
        // Before anything is written: whatever this install writes, the delete on this host removes.
        `mkdir -p "$(dirname ${shq(uninstall)})"`,
        `cp "$(dirname "$0")/${UNINSTALL_SCRIPT}" ${shq(`${uninstall}.tmp`)}; mv -f ${shq(`${uninstall}.tmp`)} ${shq(uninstall)}`,
        cniInstallScript({
            binDir: plan.binDir,
            binaries: plan.binaries.map(installBinary),
            recordPath: record,
            ownerPath: kubeconfigPath,
        }),
        // Uploads of earlier configs (each in the folder of its digest) are no longer run by anything.
        `self=$(basename "$(dirname "$0")")`,
        `for d in ${shq(CNI_UPLOAD_DIR)}/*/; do [ "$(basename "$d")" = "$self" ] || rm -rf "$d"; done`,
        plan.afterInstall,
    ].filter((s) => s !== "");
    const remove = [
        "set -eu",
        // The files first, then the dataplane: the cleanup waits for calico-node to stop on this host.
        cniUninstallScript(written, record, CNI_UPLOAD_DIR),
        dataplaneCleanupScript(plan.cleanupOptions),
    ];
    return [
        { name: INSTALL_SCRIPT, content: `${install.join("\n")}\n` },
        { name: UNINSTALL_SCRIPT, content: `${remove.join("\n")}\n` },
    ];
}

/** A node's install command: the staged script with the node's name and preflight peers as arguments. */
export function hostInstallCommand(uploadDir: string, plan: PreflightPlan): string {
    const { node, peers } = preflightArgs(plan);
    const script = `${uploadDir}/${INSTALL_SCRIPT}`;
    return [
        `s=${shq(script)}`,
        `[ -f "$s" ] || { echo "$s is missing, so its upload is gone from this host: replace the resource ${node}-cni-upload (pulumi up --replace with its URN)" >&2; exit 1; }`,
        `exec sh "$s" ${shq(node)} ${shq(peers)}`,
    ].join("\n");
}

/**
 * Every node's delete: the uninstall its last install left beside the record. A host with none has
 * nothing of this install (it never started one, or was rebuilt since).
 */
export function hostDeleteCommand(recordPath: string = CNI_HOST_RECORD, legacyPath = legacyRecordOf(recordPath)): string {
    const u = hostUninstallPath(recordPath);
    // A host not installed since the record moved still has its uninstall at the former path.
    const legacy = legacyPath ? `\n[ -f "$u" ] || u=${shq(hostUninstallPath(legacyPath))}` : "";
    return `u=${shq(u)}${legacy}\nif [ -f "$u" ]; then exec sh "$u"; fi\necho ${shq(u)} is missing: no install of this program recorded here, nothing removed >&2`;
}

const legacyRecordOf = (record: string): string | undefined => (record === CNI_HOST_RECORD ? LEGACY_CNI_HOST_RECORD : undefined);

/**
 * The record, its owner and its uninstall moved from the former path before the install reads them, so the
 * install replaces what the last one wrote as if it had always been here (the uninstall is rewritten next).
 */
export function moveLegacyRecord(from: string, to: string): string {
    const dir = (p: string) => p.slice(0, p.lastIndexOf("/"));
    const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
    const files = [from, `${from}.owner`, hostUninstallPath(from)];
    return [
        `if [ -e ${shq(from)} ] && [ ! -e ${shq(to)} ]; then`,
        `  mkdir -p ${shq(dir(to))}`,
        ...files.map((f) => `  [ ! -e ${shq(f)} ] || mv -f ${shq(f)} ${shq(`${dir(to)}/${base(to)}${base(f).slice(base(from).length)}`)}`),
        `  rmdir ${shq(dir(from))} 2>/dev/null || true`,
        `fi`,
    ].join("\n");
}
