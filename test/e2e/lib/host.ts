import * as fs from "fs";
import * as path from "path";
import { NODES } from "./env";
import { run, type RunOptions, type RunResult } from "./proc";

/**
 * Host checks: everything runs through `ip netns exec` into a node's (or a pod's) network namespace, or
 * `nsenter` into a container's namespaces. The sandbox's nodes are network namespaces named after them.
 */
export function inNetns(netns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run("ip", ["netns", "exec", netns, cmd, ...args], opts);
}
/** A command inside a process's mount, network, pid, root and cwd namespaces (the container of `pid`). */
export function inProcess(pid: number, argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run("nsenter", ["-t", String(pid), "-m", "-n", "-p", "-r", "-w", "--", ...argv], { timeoutS: 20, ...opts });
}

export async function netnsPids(netns: string): Promise<number[]> {
    const r = await run("ip", ["netns", "pids", netns]);
    return r.code === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}
function cmdline(pid: number): string | undefined {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
        return undefined;
    }
}
/** The first process in `netns` whose command line matches `pattern`. */
export async function procInNetns(netns: string, pattern: RegExp): Promise<{ pid: number; cmd: string } | undefined> {
    for (const pid of await netnsPids(netns)) {
        const cmd = cmdline(pid);
        if (cmd !== undefined && pattern.test(cmd)) return { pid, cmd };
    }
    return undefined;
}
export async function netnsExists(netns: string): Promise<boolean> {
    return fs.existsSync(path.join("/run/netns", netns));
}

export interface PingResult {
    sent: number;
    received: number;
    /** "0%", "100%", as ping prints it. */
    loss: string;
}
/** `count` pings at 0.2 s from `netns` to `dest` (bounded): what the bash `ping_from` printed. */
export async function pingFrom(
    netns: string,
    dest: string,
    count = 10,
    extra: readonly string[] = [],
): Promise<PingResult & { text: string }> {
    const r = await inNetns(netns, "ping", ["-n", "-q", "-c", String(count), "-i", "0.2", "-W", "1", ...extra, dest], { timeoutS: 30 });
    const text = `${r.stdout}${r.stderr}`;
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received.*?(\d+(?:\.\d+)?%) packet loss/.exec(text);
    if (!m) return { sent: 0, received: 0, loss: "100%", text };
    return { sent: Number(m[1]), received: Number(m[2]), loss: m[3]!, text };
}
export const fmtPing = (p: PingResult): string => `${p.sent} ${p.received} ${p.loss}`;

/** `birdc -s <node tree>/var/run/calico/bird.ctl <args>` (BIRD's socket sits in the node's tree). */
export function birdc(socket: string, args: readonly string[]): Promise<RunResult> {
    return run("birdc", ["-s", socket, ...args], { timeoutS: 20 });
}

const CALICO_PROCESS = /^(calico-node|calico-typha|bird|bird6|\/usr\/bin\/kube-controllers|runsv)/;
/**
 * What Calico left in each node's namespace: processes, interfaces (cali*, tunl0, vxlan.calico,
 * wireguard.cali), routes (BIRD's, blackholes, to cali*), iptables (legacy and nft) rules, nft tables and
 * ipsets. Empty when nothing is left; one line per thing found, prefixed by its node.
 */
export async function calicoLeftovers(nodes: readonly string[] = NODES): Promise<string[]> {
    const found: string[] = [];
    for (const n of nodes) {
        const add = (kind: string, lines: string[]) => lines.forEach((l) => found.push(`${n}: ${kind}: ${l}`));
        for (const pid of await netnsPids(n)) {
            const c = cmdline(pid);
            if (c && CALICO_PROCESS.test(c)) add("process", [c]);
        }
        const links = (await run("ip", ["-n", n, "-o", "link", "show"])).stdout.split("\n").map((l) => l.split(": ")[1] ?? "");
        add(
            "link",
            links.filter((l) => /^(cali|tunl0|vxlan[.-]|wireguard\.cali)/.test(l)),
        );
        const routes = (await run("ip", ["-n", n, "route", "show", "table", "all"])).stdout.split("\n");
        add(
            "route",
            routes.filter((l) => /proto (bird|80)|blackhole|dev cali/.test(l)),
        );
        for (const save of ["iptables-legacy-save", "iptables-nft-save"]) {
            add(
                save.replace("-save", ""),
                (await inNetns(n, save, [])).stdout
                    .split("\n")
                    .filter((l) => l.includes("cali"))
                    .slice(0, 3),
            );
        }
        add(
            "nft",
            (await inNetns(n, "nft", ["list", "tables"])).stdout.split("\n").filter((l) => /calico/i.test(l)),
        );
        add(
            "ipset",
            (await inNetns(n, "ipset", ["list", "-n"])).stdout
                .split("\n")
                .filter((l) => l.startsWith("cali"))
                .slice(0, 3),
        );
    }
    return found;
}
