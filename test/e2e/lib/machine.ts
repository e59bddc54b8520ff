import { CNI_HOST_RECORD, LEGACY_CNI_HOST_RECORD } from "../../../components/facts/names";
import * as fs from "fs";
import * as path from "path";
import { NODES, nodeTree, REPO, S, SANDBOX_DIR } from "./env";
import { run, sandboxScript } from "./proc";

/** The machine under the e2e: the cluster's processes and the nodes' trees (sandbox/*.sh do the work). */

/** The recorded pid runs and is the process the sandbox started (lib.sh pid_alive). */
export function pidAlive(name: string): boolean {
    try {
        const pid = fs.readFileSync(path.join(S, "run", `${name}.pid`), "utf8").trim();
        const exe = fs.readFileSync(path.join(S, "run", `${name}.cmd`), "utf8").trim();
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
        return !exe || cmd.includes(exe);
    } catch {
        return false;
    }
}

/** Fails naming what is missing when the toolchain is not built (the e2e never builds it). */
export async function toolchainReady(): Promise<void> {
    const r = await run("bash", [path.join(SANDBOX_DIR, "toolchain-ready.sh")], { timeoutS: 120 });
    if (r.code !== 0) throw new Error(`toolchain not built (npm run sandbox:toolchain): ${(r.stdout + r.stderr).trim().split("\n")[0]}`);
}

/** Starts the cluster unless it runs; true when this call started it. */
export async function startCluster(logFile: string): Promise<boolean> {
    const started = !pidAlive("kube-apiserver");
    const r = await run("bash", [path.join(SANDBOX_DIR, "up.sh"), "--no-build"], { timeoutS: 300 });
    fs.writeFileSync(logFile, r.stdout + r.stderr);
    if (r.code !== 0)
        throw new Error(`sandbox/up.sh --no-build failed:\n${(r.stdout + r.stderr).trim().split("\n").slice(-20).join("\n")}`);
    // The link cni.localBinDir names (sandbox/.state/cni-bin -> $S/cni-bin).
    fs.mkdirSync(path.join(SANDBOX_DIR, ".state"), { recursive: true });
    const link = path.join(SANDBOX_DIR, ".state", "cni-bin");
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.join(S, "cni-bin"), link);
    return started;
}
export const stopCluster = (): Promise<string> => sandboxScript("down.sh", []);

/** Every file the program puts on a node, gone from every node's tree (what a destroy leaves is checked, not this). */
export function cleanTrees(nodes: readonly string[] = NODES): void {
    for (const n of nodes) {
        const t = nodeTree(n);
        for (const d of ["opt/cni", "etc/cni", path.dirname(CNI_HOST_RECORD), path.dirname(LEGACY_CNI_HOST_RECORD)])
            fs.rmSync(path.join(t, d), { recursive: true, force: true });
        for (const d of ["tmp", "var/tmp"]) {
            const dir = path.join(t, d);
            if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
        }
    }
}

/** Files under `dirs` of a node's tree (relative paths), for "nothing left" checks. */
export function filesUnder(node: string, dirs: readonly string[]): string[] {
    const root = nodeTree(node);
    const out: string[] = [];
    const walk = (rel: string) => {
        const abs = path.join(root, rel);
        if (!fs.existsSync(abs)) return;
        for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
            const r = path.join(rel, e.name);
            if (e.isDirectory()) walk(r);
            else out.push(r);
        }
    };
    dirs.forEach(walk);
    return out;
}

export const sshNodes = (action: "start" | "stop", ...nodes: string[]): Promise<string> =>
    sandboxScript("ssh-nodes.sh", [action, ...nodes]);

/** Objects no stack knows any more (a run killed while it created them): the program labels its own; the CRDs are Calico's. */
export async function removeOrphans(): Promise<string> {
    const k = (args: string[], timeoutS = 120) => run("kubectl", ["--request-timeout=20s", ...args], { timeoutS });
    await k(["delete", "deploy,ds,svc,sa,cm,secret,pdb,job", "-A", "-l", "app.kubernetes.io/part-of=calico", "--wait=false"]);
    await k(["delete", "clusterrole,clusterrolebinding", "-l", "app.kubernetes.io/part-of=calico"]);
    const crds = (await k(["get", "crd", "-o", "name"])).stdout.split("\n").filter((l) => l.includes("projectcalico.org"));
    if (crds.length === 0) return "no Calico object left by an earlier run";
    await k(["delete", ...crds, "--wait=false"]);
    const end = Date.now() + 300_000;
    while ((await k(["get", "crd", "-o", "name"])).stdout.includes("projectcalico.org")) {
        if (Date.now() > end) throw new Error("Calico CRDs still terminating after 5 min");
        await new Promise((r) => setTimeout(r, 2000));
    }
    return `removed ${crds.length} Calico CRDs no stack holds`;
}

/** The official manifest through a server-side dry run: the time a reference apply takes here. */
export async function referenceApply(manifest: string, logFile: string): Promise<number | undefined> {
    if (!fs.existsSync(manifest)) return undefined;
    const t0 = Date.now();
    const r = await run(
        "kubectl",
        ["--request-timeout=20s", "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", manifest],
        { timeoutS: 300 },
    );
    fs.writeFileSync(logFile, r.stdout + r.stderr);
    return r.code === 0 ? Math.round((Date.now() - t0) / 100) / 10 : undefined;
}
export const REFERENCE_MANIFEST = path.join(REPO, "..", "shared", "reference", "calico-v3.32.1", "calico-typha.yaml");
