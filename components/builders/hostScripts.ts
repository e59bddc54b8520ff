/**
 * Shell scripts run on the nodes over SSH. File contents always arrive on stdin, never on the command
 * line (which `ps` and the engine's logs would show), and land in a temp file that is renamed into
 * place, so the kubelet never reads half a file.
 */

/** Single-quotes a string for POSIX sh. */
export function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs a script as root: directly for root, through passwordless sudo otherwise. */
export function asRoot(script: string, user: string): string {
    const body = `set -eu\n${script}`;
    return user === "root" ? `sh -c ${shq(body)}` : `sudo -n sh -c ${shq(body)}`;
}

/** Prints a file to stdout (used only with output marked secret, for the cluster CA key). */
export function readFileScript(path: string): string {
    return `cat ${shq(path)}`;
}

/** A file the install step writes from stdin: path, octal mode, content. */
export interface FramedFile {
    path: string;
    mode: string;
    content: string;
    /**
     * The sha256 of the file's head, a public part staged in the upload as `<sha256>.head` (builders/upload.ts):
     * the file is that head, checked, then `content`. Unset: `content` is the whole file.
     */
    head?: string;
}

/**
 * The install step's stdin: for each file a header line `<bytes> <mode> <head> <path>` (`<head>` a sha256 or
 * `-`, see FramedFile), then exactly that many bytes of content, then the next header. Length-prefixed, so
 * content needs no escaping and may hold any byte (no newline at the end, lines that look like headers);
 * the script reads it with `read` and `head -c`, both of which take no more than they are asked for.
 */
export function frameFiles(files: FramedFile[]): string {
    for (const f of files) {
        if (!/^0[0-7]{3}$/.test(f.mode)) throw new Error(`host file ${f.path}: mode ${f.mode} is not octal like 0644`);
        if (!f.path.startsWith("/") || /[\n\r]/.test(f.path))
            throw new Error(`host file ${JSON.stringify(f.path)}: not an absolute path on one line`);
        if (f.head !== undefined && !/^[0-9a-f]{64}$/.test(f.head))
            throw new Error(`host file ${f.path}: head ${f.head} is not a hex sha256`);
    }
    return files.map((f) => `${Buffer.byteLength(f.content, "utf8")} ${f.mode} ${f.head ?? "-"} ${f.path}\n${f.content}`).join("");
}

/** A CNI binary as the install step takes it: from the uploaded directory, or downloaded by the host. */
export type InstallBinary =
    | { name: string; source: "local"; sha256: string }
    | { name: string; source: "download"; sha256: string; url: string; archiveMember?: string };

export interface CniInstallPlan {
    binDir: string;
    /**
     * Where the node's upload of the local binaries lands (relative paths are under the SSH user's home):
     * `<sha256>.gz` each. Unset in the staged script, which runs from that folder: the folder of `$0`.
     */
    uploadDir?: string;
    binaries: InstallBinary[];
    /** The host's record of every path the install wrote, so a later install or the delete finds them all. */
    recordPath: string;
    /**
     * A file on stdin whose sha256 the install keeps beside the record (`<record>.owner`): the CNI kubeconfig,
     * the one file another installer (calico-node's install-cni) always writes differently. See cniUninstallScript.
     */
    ownerPath: string;
    /** How long to wait for a calico-node that still manages the CNI kubeconfig here to stop (see the script). */
    managedWaitSeconds?: number;
}

/** A switch from `cni.delivery: daemonset` waits this long for each host's calico-node to roll (maxUnavailable 1). */
const MANAGED_WAIT_SECONDS = 1800;

/**
 * The install step of one node, run on every create and update: checks every binary's sha256 (an already
 * installed binary that matches is kept, so a conflist change needs no upload), then moves them all into
 * place by rename, then writes the files that arrive on stdin (see frameFiles; the conflist comes last)
 * each by rename, then removes what an earlier install wrote and this one did not (a binary or file no
 * longer configured), using the host's record. Nothing is installed unless every binary checks out.
 * It takes this host's Kubernetes node name (calico-node's NODENAME, for the wait below) from `$node`,
 * which the staged install sets from its first argument (builders/hostBundle.ts).
 */
export function cniInstallScript(plan: CniInstallPlan): string {
    const { binDir, uploadDir, recordPath, ownerPath } = plan;
    const calls = plan.binaries.map((b) => {
        // Names and digests go unquoted into the script (and into the host's record): only plain ones.
        if (!/^[a-z0-9][a-z0-9-]*$/.test(b.name) || !/^[0-9a-f]{64}$/.test(b.sha256))
            throw new Error(`CNI binary ${b.name}: not a plain name with a hex sha256`);
        return b.source === "local"
            ? `put ${b.name} ${b.sha256}`
            : `fetch ${b.name} ${b.sha256} ${shq(b.url)}${b.archiveMember !== undefined ? ` ${shq(b.archiveMember)}` : ""}`;
    });
    return [
        `bin=${shq(binDir)} up=${uploadDir !== undefined ? shq(uploadDir) : '"$(dirname "$0")"'} rec=${shq(recordPath)} tmp=`,
        `mkdir -p "$bin"`,
        `work=$(mktemp -d "$bin/.calico-install.XXXXXX")`,
        `trap 'rm -rf "$work"; [ -z "$tmp" ] || rm -f "$tmp"' EXIT`,
        `ok() { [ -f "$2" ] && echo "$1  $2" | sha256sum -c --status -; }`,
        // Each binary lands checked in $work (on the bin dir's file system, so the rename is atomic).
        // The upload holds each content once, gzipped, by its sha256 (builders/upload.ts); what it unpacks to is checked.
        `put() {`,
        `  echo "$bin/$1" >> "$work/.files"`,
        `  ok "$2" "$bin/$1" && return 0`,
        // A content this run already unpacked and checked (calico-ipam is the calico binary again) is copied, not
        // unpacked and hashed twice: that was half of each host's install time.
        `  if [ -f "$work/.sha-$2" ]; then cp "$work/$(cat "$work/.sha-$2")" "$work/$1"`,
        `  else { [ -f "$up/$2.gz" ] && gzip -dc "$up/$2.gz" > "$work/$1" && ok "$2" "$work/$1"; } || { echo "$1: the upload $up/$2.gz is missing or does not unpack to sha256 $2" >&2; exit 1; }; echo "$1" > "$work/.sha-$2"; fi`,
        `  echo "$1" >> "$work/.new"`,
        `}`,
        `fetch() {`,
        `  echo "$bin/$1" >> "$work/.files"`,
        `  curl -fsSL --retry 3 -o "$work/.dl" "$3"`,
        `  echo "$2  $work/.dl" | sha256sum -c --quiet -`,
        `  if [ -n "\${4:-}" ]; then mkdir "$work/.x"; tar -xzf "$work/.dl" -C "$work/.x" "$4"; mv "$work/.x/\${4#./}" "$work/$1"; rm -rf "$work/.x" "$work/.dl"`,
        `  else mv "$work/.dl" "$work/$1"; fi`,
        `  echo "$1" >> "$work/.new"`,
        `}`,
        ...calls,
        `touch "$work/.new"`,
        `while read -r n; do chmod 0755 "$work/$n"; mv -f "$work/$n" "$bin/$n"; done < "$work/.new"`,
        // Switching from cni.delivery daemonset: until calico-node rolls here, the old pod's token refresher
        // (CALICO_MANAGE_CNI=true) may rewrite the kubeconfig after this install wrote it. The DaemonSet rolls
        // meanwhile (it does not wait for any node's install); write only once no such process runs here.
        `managed() { grep -lzx 'CALICO_MANAGE_CNI=true' /proc/[0-9]*/environ 2>/dev/null | while read -r e; do grep -qzx "NODENAME=$node" "$e" 2>/dev/null && echo "$e"; done; }`,
        `i=0; while [ -n "$(managed)" ]; do`,
        `  i=$((i + 1)); [ "$i" -le ${plan.managedWaitSeconds ?? MANAGED_WAIT_SECONDS} ] || { echo "calico-node here still renews the CNI kubeconfig (CALICO_MANAGE_CNI=true, cni.delivery daemonset): wait for its DaemonSet to roll, then run pulumi up again" >&2; exit 1; }`,
        `  sleep 1`,
        `done`,
        // The files on stdin, in their order; a short read leaves the file as it was. A file with a head starts
        // with the upload's public part of that sha256 (the kubeconfig's cluster CA), checked like a binary.
        `while read -r size mode part path; do`,
        `  d=$(dirname "$path"); mkdir -p "$d"; tmp=$(mktemp "$d/.calico.XXXXXX")`,
        `  if [ "$part" != - ]; then ok "$part" "$up/$part.head" || { echo "$path: the upload $up/$part.head is missing or not sha256 $part" >&2; exit 1; }; cat "$up/$part.head" > "$tmp"; fi`,
        `  n=$(wc -c < "$tmp"); head -c "$size" >> "$tmp"`,
        `  [ "$(wc -c < "$tmp")" -eq "$((n + size))" ] || { echo "stdin ended inside $path" >&2; exit 1; }`,
        `  chmod "$mode" "$tmp"; mv -f "$tmp" "$path"; tmp=; echo "$path" >> "$work/.files"`,
        `done`,
        `if [ -f "$rec" ]; then grep -vxF -f "$work/.files" "$rec" | while read -r f; do rm -f "$f"; done; fi`,
        `mkdir -p "$(dirname "$rec")"; cp "$work/.files" "$rec.tmp"; mv -f "$rec.tmp" "$rec"`,
        `if [ -f ${shq(ownerPath)} ]; then sha256sum ${shq(ownerPath)} > "$rec.owner.tmp"; mv -f "$rec.owner.tmp" "$rec.owner"; fi`,
        // The binaries' archives go; the upload's scripts and heads stay, since every later install runs them (builders/hostBundle.ts).
        `rm -f "$up"/*.gz`,
    ].join("\n");
}

/** Where the staged install keeps the delete on the host (builders/hostBundle.ts): beside the record, root's like it. */
export function hostUninstallPath(recordPath: string): string {
    return `${recordPath}.uninstall`;
}

/**
 * The delete of a node's install: the conflist first (the kubelet stops starting pods with Calico), then
 * every other path this program wrote, from `paths` and the host's record, the record and the upload.
 *
 * Unless another installer has taken the host over: switching to `cni.delivery: daemonset` deletes this
 * resource after calico-node's install-cni wrote the same paths (same conflist and binaries, a token
 * kubeconfig). A kubeconfig that is no longer the one this install wrote says so; then only the record
 * and the upload go, and the script stops before anything that follows it (the dataplane cleanup).
 */
export function cniUninstallScript(paths: string[], recordPath: string, uploadDir: string): string {
    return [
        `rec=${shq(recordPath)}`,
        `if [ -f "$rec.owner" ] && kc=$(awk '{print $2}' "$rec.owner") && [ -f "$kc" ] && ! sha256sum -c --status "$rec.owner"; then`,
        `  echo "$kc is no longer the kubeconfig this program wrote (calico-node's install-cni has taken the host over): left the CNI files and Calico's dataplane in place" >&2`,
        `  rm -rf "$rec" "$rec.owner" ${shq(hostUninstallPath(recordPath))} ${shq(uploadDir)}`,
        `  exit 0`,
        `fi`,
        `rm -f ${paths.map(shq).join(" ")}`,
        `if [ -f "$rec" ]; then while read -r f; do rm -f "$f"; done < "$rec"; fi`,
        `rm -rf "$rec" "$rec.owner" ${shq(hostUninstallPath(recordPath))} ${shq(uploadDir)}`,
    ].join("\n");
}
