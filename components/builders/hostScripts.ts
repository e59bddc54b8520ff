/**
 * Shell scripts run on the nodes over SSH. File contents always arrive on stdin, never on the command
 * line (which `ps` and the engine's logs would show), and land in a temp file that is renamed into
 * place, so the kubelet never reads half a file.
 */

/** Single-quotes a string for POSIX sh. */
export function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

function dirname(path: string): string {
    const i = path.lastIndexOf("/");
    return i <= 0 ? "/" : path.slice(0, i);
}

function basename(path: string): string {
    return path.slice(path.lastIndexOf("/") + 1);
}

/** Runs a script as root: directly for root, through passwordless sudo otherwise. */
export function asRoot(script: string, user: string): string {
    const body = `set -eu\n${script}`;
    return user === "root" ? `sh -c ${shq(body)}` : `sudo -n sh -c ${shq(body)}`;
}

/** Writes stdin to `path` with `mode`, atomically. */
export function writeFileScript(path: string, mode: string): string {
    const dir = dirname(path);
    return [
        `mkdir -p ${shq(dir)}`,
        `tmp=$(mktemp ${shq(`${dir}/.${basename(path)}.XXXXXX`)})`,
        `trap 'rm -f "$tmp"' EXIT`,
        `cat > "$tmp"`,
        `chmod ${mode} "$tmp"`,
        `mv -f "$tmp" ${shq(path)}`,
        `trap - EXIT`,
    ].join("\n");
}

export function removeFileScript(path: string): string {
    return `rm -f ${shq(path)}`;
}

/**
 * Downloads a binary on the host, checks its sha256 (of the download: the binary, or the tarball it is
 * extracted from) and installs it atomically with mode 0755.
 */
export function downloadScript(url: string, sha256: string, dest: string, archiveMember?: string): string {
    const dir = dirname(dest);
    const lines = [
        `mkdir -p ${shq(dir)}`,
        `work=$(mktemp -d ${shq(`${dir}/.${basename(dest)}.XXXXXX`)})`,
        `trap 'rm -rf "$work"' EXIT`,
        `curl -fsSL --retry 3 -o "$work/download" ${shq(url)}`,
        `echo ${shq(`${sha256}  `)}"$work/download" | sha256sum -c --quiet -`,
    ];
    if (archiveMember !== undefined) {
        lines.push(`tar -xzf "$work/download" -C "$work" ${shq(archiveMember)}`, `src="$work/${archiveMember.replace(/^\.\//, "")}"`);
    } else {
        lines.push(`src="$work/download"`);
    }
    lines.push(`chmod 0755 "$src"`, `mv -f "$src" ${shq(dest)}`);
    return lines.join("\n");
}

/** Checks a file copied to `staging` against its sha256 and moves it into place with mode 0755. */
export function installStagedScript(staging: string, sha256: string, dest: string): string {
    const dir = dirname(dest);
    return [
        `echo ${shq(`${sha256}  ${staging}`)} | sha256sum -c --quiet -`,
        `mkdir -p ${shq(dir)}`,
        `tmp=$(mktemp ${shq(`${dir}/.${basename(dest)}.XXXXXX`)})`,
        `trap 'rm -f "$tmp"' EXIT`,
        `cp ${shq(staging)} "$tmp"`,
        `chmod 0755 "$tmp"`,
        `mv -f "$tmp" ${shq(dest)}`,
        `trap - EXIT`,
        `rm -f ${shq(staging)}`,
    ].join("\n");
}

/**
 * Where a local binary is uploaded before its checksum is verified on the host: beside its destination
 * for root, so the final rename stays on one file system; in the user's home otherwise (sudo moves it).
 */
export function stagingPath(dest: string, user: string): string {
    return user === "root" ? `${dirname(dest)}/.${basename(dest)}.upload` : `.calico-${basename(dest)}.upload`;
}

/** Makes sure the upload directory exists (the bin dir for root; a non-root user's home always does). */
export function prepareStagingScript(binDir: string, user: string): string {
    return user === "root" ? asRoot(`mkdir -p ${shq(binDir)}`, user) : "true";
}

/** Prints a file to stdout (used only with output marked secret, for the cluster CA key). */
export function readFileScript(path: string): string {
    return `cat ${shq(path)}`;
}
