import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { logRoot, NODES, nodeIp, nodeIp6, nodeTree, S } from "../lib/env";
import { birdc, calicoLeftovers, fmtPing, inNetns, pingFrom, procInNetns } from "../lib/host";
import { podIp, podIps, podNetns, PT_NS } from "../lib/kube";
import { sleep, waitFor } from "../lib/proc";
import type { StackConfig } from "../lib/stack";
import type { Check, Ctx } from "../lib/types";
import { ipIn } from "../../../verify/net";
import { destroyStack, pingCheck } from "./common";

/**
 * The host preflight, dual-stack and the nftables dataplane on real Calico: stack `sandbox-nft`, the
 * sandbox file edited as Pulumi.dualstack.yaml has it (`calicoNode: {dataplane: nftables, ipv6: true,
 * ipv6AutodetectionMethod: cidr=<the bridge's /64>}`, `cluster.podCidrV6`, pool `ipv6-ippool-1`), plus
 * `cni.preflightBgpPeers: true` and each node's `internalAddress` (its address on the sandbox bridge).
 * `setup` plants one problem set per node: sbx-node-1 another CNI's conflist, sbx-node-2 IPv4 and IPv6
 * forwarding off, sbx-node-3 drops TCP 179. `cleanup` undoes them and stops the fake NetworkManager.
 * Shared: "pods" (node -> V1Pod, from the IPv4 ping check).
 */
const [N1, N2, N3] = NODES as [string, string, string];
const FLANNEL = path.join(nodeTree(N1), "etc/cni/net.d/05-flannel.conflist");
const POOL1_CIDR = "10.244.0.0/18";
const POOL6_CIDR = "fd00:10:244::/64";
/** The sandbox bridge's IPv6 /64 (every node's address is in it). */
const NET6 = nodeIp6(N1).replace(/::\d+$/, "::/64");
const FAKE_NM_DIR = path.join(logRoot(), "nft", "fake-nm");
let fakeNm: ChildProcess | undefined;

/** The style's stack edits; `cni.manageNetworkManager` is false until the problems are fixed (check fixed-up). */
export function config(c: StackConfig): void {
    c.set("calicoNode", { dataplane: "nftables", ipv6: true, ipv6AutodetectionMethod: `cidr=${NET6}` });
    c.set("cluster", "podCidrV6", "fd00:10:244::/56");
    c.addItem("pools", {
        name: "ipv6-ippool-1",
        cidr: POOL6_CIDR,
        blockSize: 122,
        ipipMode: "Never",
        vxlanMode: "Never",
        natOutgoing: true,
    });
    c.set("cni", "preflightBgpPeers", true);
    c.set("cni", "manageNetworkManager", false);
    for (const n of c.get("nodes") as { name: string }[]) c.item("nodes", n.name).set("internalAddress", nodeIp(n.name));
}

/** The planted problems (each node's own). */
export async function setup(): Promise<void> {
    fs.mkdirSync(path.dirname(FLANNEL), { recursive: true });
    fs.writeFileSync(FLANNEL, '{"cniVersion": "0.3.1", "name": "cbr0", "plugins": [{"type": "flannel"}]}\n');
    for (const k of ["net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"]) await mustRun(N2, "sysctl", ["-qw", k]);
    await mustRun(N3, "iptables", ["-I", "INPUT", "-p", "tcp", "--dport", "179", "-j", "DROP"]);
}
async function mustRun(node: string, cmd: string, args: string[]): Promise<void> {
    const r = await inNetns(node, cmd, args);
    if (r.code !== 0) throw new Error(`${node}: ${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
}

/** Undoes the planted problems (idempotent). */
async function restore(): Promise<void> {
    fs.rmSync(FLANNEL, { force: true });
    await inNetns(N2, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    await inNetns(N2, "sysctl", ["-qw", "net.ipv6.conf.all.forwarding=1"]);
    // -D removes one copy per call: until none is left.
    for (let i = 0; i < 10; i++)
        if ((await inNetns(N3, "iptables", ["-D", "INPUT", "-p", "tcp", "--dport", "179", "-j", "DROP"])).code) break;
}
async function stopFakeNm(): Promise<void> {
    const p = fakeNm;
    fakeNm = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await Promise.race([gone, sleep(5000)]);
}
export async function cleanup(): Promise<void> {
    await stopFakeNm();
    await restore();
    fs.rmSync(FAKE_NM_DIR, { recursive: true, force: true });
}

/** The patterns of `patterns` that no `preflight <node>: ` line of `log` matches. */
function missing(log: string, node: string, patterns: string[]): string[] {
    const lines = log.split("\n").filter((l) => l.includes(`preflight ${node}: `));
    return patterns.filter((p) => !lines.some((l) => new RegExp(`preflight ${esc(node)}: .*${p}`).test(l)));
}
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The first `preflight <node>: <prefix>` line, from "preflight" on, cut to `n` characters. */
function firstLine(log: string, node: string, prefix: string, n: number): string {
    const l = log.split("\n").find((x) => x.includes(`preflight ${node}: ${prefix}`)) ?? "";
    return l.slice(l.indexOf("preflight")).slice(0, n);
}
const hasFiles = (n: string): boolean =>
    fs.existsSync(path.join(nodeTree(n), "etc/cni/net.d/10-calico.conflist")) ||
    fs.existsSync(path.join(nodeTree(n), "opt/cni/bin/calico"));
/** The log of a pulumi operation that must fail; throws when it succeeded. */
async function failingUp(ctx: Ctx, label: string, what: string): Promise<string> {
    const r = await ctx.stack.up(label, { continueOnError: true });
    if (r.ok) throw new Error(`pulumi up succeeded ${what}`);
    return fs.readFileSync(r.log, "utf8");
}

export const plantedProblems: Check = {
    name: "planted-problems",
    title: "foreign conflist, forwarding off, TCP 179 dropped: up fails naming each node's problems; the clean node installs",
    run: async (ctx) => {
        const L = await failingUp(ctx, "up-planted", "with a foreign conflist, forwarding off (IPv4, IPv6) and TCP 179 dropped");
        const bad: string[] = [];
        const tcp179 = `node ${esc(N3)} \\(${esc(nodeIp(N3))}\\) answers, but not on TCP 179`;
        let m = missing(L, N1, ["05-flannel\\.conflist sorts before 10-calico\\.conflist.*fix: move it out", tcp179]);
        if (m.length) bad.push(`${N1} missing ${m.map((p) => `'${p}'`).join(" ")}`);
        m = missing(L, N2, [
            "net\\.ipv4\\.ip_forward is 0.*fix: sysctl -w net\\.ipv4\\.ip_forward=1",
            "net\\.ipv6\\.conf\\.all\\.forwarding is 0.*fix: sysctl -w net\\.ipv6\\.conf\\.all\\.forwarding=1",
            tcp179,
        ]);
        if (m.length) bad.push(`${N2} missing ${m.map((p) => `'${p}'`).join(" ")}`);
        for (const n of [N1, N2]) {
            if (!L.includes(`preflight ${n}: nothing was written to this node`)) bad.push(`${n}: no 'nothing was written' line`);
            if (hasFiles(n)) bad.push(`${n}: got CNI files`);
        }
        if (L.includes(`preflight ${N3}: `)) bad.push(`${N3} reported: ${firstLine(L, N3, "", 120)}`);
        if (!hasFiles(N3)) bad.push(`${N3} (no problem of its own) got no CNI files`);
        if (bad.length) throw new Error(`${bad.join("; ")} (log ${ctx.logDir}/up-planted.log)`);
        ctx.ok(
            `up failed for ${N1} (foreign conflist, TCP 179 to ${N3}) and ${N2} (IPv4 and IPv6 forwarding 0, TCP 179 to ${N3}), ` +
                `nothing written to them; ${N3} reported nothing and got its files. e.g. ${firstLine(L, N2, "net.ipv4", 160)}`,
        );
    },
};

export const plantedNetworkManager: Check = {
    name: "planted-network-manager",
    title: "all fixed but NetworkManager running: the nodes whose installs run again refuse without the unmanaged-devices rule",
    run: async (ctx) => {
        // This machine's /proc is every node's: one process named NetworkManager runs "on" all of them.
        await restore();
        fs.mkdirSync(FAKE_NM_DIR, { recursive: true });
        const exe = path.join(FAKE_NM_DIR, "NetworkManager");
        fs.copyFileSync("/bin/sleep", exe);
        fs.chmodSync(exe, 0o755);
        await stopFakeNm();
        fakeNm = spawn(exe, ["900"], { stdio: "ignore" });
        const L = await failingUp(ctx, "up-nm", "with NetworkManager running and no rule for Calico's interfaces");
        const bad: string[] = [];
        for (const n of [N1, N2]) {
            const m = missing(L, n, ["NetworkManager runs and no unmanaged-devices rule covers.*calico:cni\\.manageNetworkManager"]);
            if (m.length) bad.push(`${n} missing ${m.map((p) => `'${p}'`).join(" ")}`);
            if (hasFiles(n)) bad.push(`${n}: got CNI files`);
        }
        if (bad.length) throw new Error(`${bad.join("; ")} (log ${ctx.logDir}/up-nm.log)`);
        ctx.ok(`${N1} and ${N2} refused, nothing written: ${firstLine(L, N1, "NetworkManager", 200)}`);
    },
};

export const fixedUp: Check = {
    name: "fixed-up",
    title: "fixed, cni.manageNetworkManager on (NetworkManager still running): one up installs every node",
    gate: true,
    run: async (ctx) => {
        try {
            await restore();
            ctx.stack.editConfig((c) => c.set("cni", "manageNetworkManager", true));
            const r = await ctx.stack.upOk("up-fixed");
            const bad: string[] = [];
            for (const n of ctx.nodes) {
                const conf = path.join(nodeTree(n), "etc/cni/net.d/10-calico.conflist");
                if (!fs.existsSync(conf) || fs.statSync(conf).size === 0) bad.push(`${n}: no conflist`);
                const nm = path.join(nodeTree(n), "etc/NetworkManager/conf.d/calico.conf");
                const text = fs.existsSync(nm) ? fs.readFileSync(nm, "utf8") : "";
                if (!/^unmanaged-devices=interface-name:cali\*/m.test(text)) bad.push(`${n}: no NetworkManager rule`);
            }
            if (bad.length) throw new Error(bad.join("; "));
            ctx.ok(
                `after the fixes (and cni.manageNetworkManager with NetworkManager still running) one up installs every node ` +
                    `(${r.seconds}s); conflist and /etc/NetworkManager/conf.d/calico.conf on each`,
            );
        } finally {
            await stopFakeNm();
        }
    },
};

export const nftables: Check = {
    name: "nftables",
    title: "every Felix runs with FELIX_NFTABLESMODE=Enabled; Calico's ip and ip6 nft tables; no cali iptables rule",
    run: async (ctx) => {
        await ctx.kube.rollout("DaemonSet", "calico-node", 300);
        const bad: string[] = [];
        const tables: string[] = [];
        for (const n of ctx.nodes) {
            const felix = await procInNetns(n, /^calico-node -felix/);
            if (!felix) {
                bad.push(`${n}: no Felix`);
                continue;
            }
            // The program sets the mode as env (ranked above the datastore), not in the FelixConfiguration.
            const env = fs.readFileSync(`/proc/${felix.pid}/environ`, "utf8").split("\0");
            if (!env.includes("FELIX_NFTABLESMODE=Enabled")) bad.push(`${n}: Felix without FELIX_NFTABLESMODE=Enabled`);
            const t = (await inNetns(n, "nft", ["list", "tables"])).stdout
                .split("\n")
                .map((l) => l.trim().split(/\s+/))
                .filter((f) => /calico/.test(f[2] ?? ""))
                .map((f) => `${f[1]}/${f[2]}`)
                .join(" ");
            if (!t.includes("ip/calico") || !t.includes("ip6/calico")) bad.push(`${n}: nft tables '${t}', want ip and ip6 calico`);
            tables.push(`${n}: ${t}`);
            let ipt = 0;
            for (const save of ["iptables-legacy-save", "iptables-nft-save"])
                ipt += (await inNetns(n, save, [])).stdout
                    .split("\n")
                    .filter((l) => l.includes("-j cali-") || l.startsWith(":cali-")).length;
            if (ipt !== 0) bad.push(`${n}: ${ipt} cali iptables rules/chains`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `Felix with FELIX_NFTABLESMODE=Enabled on every node; nft tables ${tables.join("; ")}; no cali iptables rule or chain (legacy, nft)`,
        );
    },
};

export const bgpBothFamilies: Check = {
    name: "bgp-both-families",
    title: "BIRD and BIRD6 each have an Established session with every other node",
    run: async (ctx) => {
        const want = ctx.nodes.length - 1;
        const bad: string[] = [];
        const est: string[] = [];
        const established = async (sock: string) => ((await birdc(sock, ["show", "protocols"])).stdout.match(/Established/g) ?? []).length;
        for (const n of ctx.nodes)
            for (const c of ["bird", "bird6"]) {
                const sock = path.join(nodeTree(n), "var/run/calico", `${c}.ctl`);
                try {
                    await waitFor(`${n}/${c} sessions`, 90, async () => (await established(sock)) >= want, 2000);
                } catch {
                    const r = await birdc(sock, ["show", "protocols"]);
                    const rows = `${r.stdout}${r.stderr}`
                        .split("\n")
                        .slice(2)
                        .filter(Boolean)
                        .map((l) => l.trim().split(/\s+/))
                        .map((f) => `${f[0]}:${f[5] ?? ""}`);
                    bad.push(`${n}: ${c} has fewer than ${want} Established sessions (${rows.join(" ")})`);
                }
                est.push(`${n}/${c}=${await established(sock)}`);
            }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`Established sessions per node: ${est.join(" ")}`);
    },
};

export const pingIpv4: Check = {
    ...pingCheck("nftables, IPv4: fresh pods on every node ping each other across nodes, 0% loss"),
    name: "ping-ipv4",
};

export const pingIpv6: Check = {
    name: "ping-ipv6",
    title: "the same pods: an IPv4 address in ipv4-ippool-1 and an IPv6 one in ipv6-ippool-1 each; every pair pings over IPv6",
    run: async (ctx) => {
        const bad: string[] = [];
        const addrs: string[] = [];
        const ip6 = new Map<string, string>();
        const pns = new Map<string, string>();
        for (const n of ctx.nodes) {
            const pod = await ctx.kube.pod(PT_NS, `pingtest-${n}`);
            const ips = podIps(pod);
            const v4 = ips.find((i) => i.includes(".")) ?? "";
            const v6 = ips.find((i) => i.includes(":")) ?? "";
            if (!v4 || !ipIn(v4, POOL1_CIDR)) bad.push(`pingtest-${n}: IPv4 '${v4}' not in ${POOL1_CIDR}`);
            if (!v6 || !ipIn(v6, POOL6_CIDR)) bad.push(`pingtest-${n}: IPv6 '${v6}' not in ${POOL6_CIDR}`);
            ip6.set(n, v6);
            pns.set(n, podNetns(pod));
            addrs.push(`${n}=${v4},${v6}`);
        }
        let pairs = 0;
        for (const a of ctx.nodes)
            for (const b of ctx.nodes) {
                if (a === b || !ip6.get(b)) continue;
                const r = await pingFrom(pns.get(a)!, ip6.get(b)!, 5);
                pairs++;
                if (r.loss !== "0%") bad.push(`pingtest-${a} -> pingtest-${b} (${ip6.get(b)}): ${fmtPing(r)}`);
            }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`every pod has both families (${addrs.join(" ")}); ${pairs} pod pairs ping over IPv6 with 0% loss`);
    },
};

export const networkPolicy: Check = {
    name: "network-policy",
    title: "a deny-ingress NetworkPolicy stops the ping to sbx-node-2's pod; deleting it brings the ping back",
    run: async (ctx) => {
        const a = await ctx.kube.pod(PT_NS, `pingtest-${N1}`);
        const bIp = podIp(await ctx.kube.pod(PT_NS, `pingtest-${N2}`));
        const aNs = podNetns(a);
        const ref = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", namespace: PT_NS, name: `deny-${N2}` };
        await ctx.kube.apply({
            apiVersion: ref.apiVersion,
            kind: ref.kind,
            metadata: { name: ref.name, namespace: PT_NS },
            spec: { podSelector: { matchLabels: { app: "pingtest" } }, policyTypes: ["Ingress"] },
        });
        const tries = async (until: (r: { received: number; loss: string }) => boolean): Promise<number | undefined> => {
            for (let i = 1; i <= 30; i++) {
                if (until(await pingFrom(aNs, bIp, 2))) return i;
                await sleep(1000);
            }
            return undefined;
        };
        let blocked: number | undefined;
        try {
            blocked = await tries((r) => r.received === 0);
        } finally {
            await ctx.kube.delete(ref);
        }
        const back = await tries((r) => r.loss === "0%");
        const rules = (await inNetns(N2, "nft", ["list", "ruleset"])).stdout.split("\n").filter((l) => /cali-pi-|cali-tw-/.test(l)).length;
        await ctx.kube.deleteNamespace(PT_NS, 90);
        if (blocked === undefined || back === undefined)
            throw new Error(`blocked=${blocked ?? "never"} restored=${back ?? "never"} (nft policy lines on ${N2} at the end: ${rules})`);
        ctx.ok(`deny-ingress policy: ping ${N1} -> ${N2} pod (${bIp}) stopped within ${blocked} tries; deleted: back within ${back} tries`);
    },
};

export const destroy: Check = {
    name: "destroy",
    title: "destroy leaves no Calico process, interface, route, rule, nft table, ipset or NetworkManager rule",
    run: async (ctx) => {
        const r = await destroyStack(ctx);
        const nodesDir = path.join(S, "nodes");
        const nmLeft = fs
            .readdirSync(nodesDir)
            .filter((n) => fs.existsSync(path.join(nodesDir, n, "etc/NetworkManager/conf.d/calico.conf")));
        const left = await calicoLeftovers(ctx.nodes);
        if (left.length || nmLeft.length)
            throw new Error(`${left.join("; ")}; NetworkManager rules left: ${nmLeft.length} (${nmLeft.join(" ")})`);
        ctx.ok(
            `destroy in ${r.seconds}s; no Calico process, interface, route, iptables rule, nft table or ipset left in any node's namespace; no NetworkManager rule left`,
        );
    },
};

export const checks: Check[] = [
    plantedProblems,
    plantedNetworkManager,
    fixedUp,
    nftables,
    bgpBothFamilies,
    pingIpv4,
    pingIpv6,
    networkPolicy,
    destroy,
];
