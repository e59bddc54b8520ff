import { buildProgram, find, installedFiles, stagedDir, stagedPlans, stagedScript } from "./harness";
import { INSTALL_SCRIPT, UNINSTALL_SCRIPT, hostInstallCommand } from "../components/builders/hostBundle";
import { CNI_UPLOAD_DIR } from "../components/facts/names";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { asRoot, cniInstallScript, frameFiles, shq } from "../components/builders/hostScripts";
import {
    CALICO_INTERFACES,
    MAX_PREFLIGHT_PEERS,
    NETWORK_MANAGER_CONF,
    NETWORK_MANAGER_RELOAD,
    type PreflightOptions,
    type PreflightPlan,
    networkManagerConf,
    preflightArgs,
    preflightChecks,
    preflightPlan,
} from "../components/builders/preflight";
import { labRaw, resolvedConfig } from "./fixtures";

// The preflight runs for real in a local shell against a temp tree that stands in for the host's /proc,
// /sys, /etc and CNI conf dir, each problem planted there. TCP checks dial real local listeners; a
// `timeout` stub on PATH plays a firewall that drops one peer's port and a peer that is down.

let dir: string;
let root: string;
let bin: string;
let confDir: string;
let listener: net.Server;
let bgpPort: number;
const KUBELET = 10250;

beforeAll(async () => {
    listener = net.createServer((c) => c.end());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    bgpPort = (listener.address() as net.AddressInfo).port;
});
afterAll(async () => new Promise((r) => listener.close(r)));

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-preflight-"));
    root = path.join(dir, "host");
    bin = path.join(dir, "bin");
    confDir = path.join(root, "etc/cni/net.d");
    for (const d of [
        bin,
        confDir,
        `${root}/proc/sys/net/ipv4`,
        `${root}/proc/sys/net/ipv6/conf/all`,
        `${root}/proc/1`,
        `${root}/sys/fs/bpf`,
    ])
        fs.mkdirSync(d, { recursive: true });
    write("proc/sys/net/ipv4/ip_forward", "1\n");
    write("proc/sys/net/ipv6/conf/all/forwarding", "1\n");
    write("proc/1/comm", "systemd\n");
    // 192.0.2.1 drops TCP to the BGP port but answers on its kubelet port; 192.0.2.9 is down.
    stub(
        "timeout",
        `case "$*" in *" 192.0.2.1 ${bgpPort}" | *" 192.0.2.9 "*) exit 124 ;; *" 192.0.2.1 ${KUBELET}") exit 0 ;; esac\nexec /usr/bin/timeout "$@"`,
    );
    stub("ping", "exit 1");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(rel: string, content: string): void {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
}

function stub(name: string, body: string): void {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

const IFACES = [CALICO_INTERFACES.workloads, CALICO_INTERFACES.ipip];

/** One node's checks as a script of their own: its name and peers as the staged install sets them, then the checks. */
function preflightScript(plan: PreflightPlan, opts: PreflightOptions = {}): string {
    const { node, peers } = preflightArgs(plan);
    return `node=${shq(node)} peers=${shq(peers)}\n${preflightChecks(plan, opts)}`;
}

function plan(p: Partial<PreflightPlan> = {}): PreflightPlan {
    const peerChecks = (p.peers ?? []).length > 0;
    return { node: "cka001", confDir, ipv6: false, interfaces: IFACES, bpf: false, kubeProxyRemoved: false, peers: [], peerChecks, ...p };
}

function run(script: string, stdin = ""): { status: number | null; stderr: string } {
    const r = spawnSync("/bin/sh", ["-c", asRoot(script, "root")], {
        input: stdin,
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    return { status: r.status, stderr: r.stderr };
}

const check = (p: Partial<PreflightPlan> = {}) => run(preflightScript(plan(p), { root, bgpPort, kubeletPort: KUBELET, timeoutSeconds: 2 }));
const FAILED = "preflight cka001: nothing was written to this node; fix the above and run pulumi up again";

/** Every file under dir with its content: the preflight must leave it exactly as it was. */
function snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of fs.readdirSync(dir, { recursive: true }) as string[]) {
        const full = path.join(dir, p);
        if (fs.statSync(full).isFile()) out[p] = fs.readFileSync(full, "utf8");
    }
    return out;
}

test("a clean host passes silently, and the check writes nothing", () => {
    write("etc/NetworkManager/conf.d/calico.conf", networkManagerConf());
    write("proc/77/comm", "NetworkManager\n");
    fs.writeFileSync(path.join(confDir, "10-calico.conflist"), "{}");
    fs.writeFileSync(path.join(confDir, "99-loopback.conf"), "{}");
    // Sorts after ours (c < f), so the runtime never picks it.
    fs.writeFileSync(path.join(confDir, "10-flannel.conflist"), "{}");
    fs.writeFileSync(path.join(confDir, "calico-kubeconfig"), "x");
    const before = snapshot();
    const peers = [
        { name: "cka002", address: "127.0.0.1" },
        { name: "cka003", address: "127.0.0.2" },
    ];
    expect(check({ ipv6: true, bpf: true, kubeProxyRemoved: true, peers })).toEqual({ status: 0, stderr: "" });
    expect(snapshot()).toEqual(before);
});

describe.each<[string, () => void, Partial<PreflightPlan>, string[]]>([
    [
        "another CNI's conflist that sorts first",
        () => fs.writeFileSync(path.join(confDir, "05-cilium.conflist"), "{}"),
        {},
        [
            "preflight cka001: another CNI's config CONF/05-cilium.conflist sorts before 10-calico.conflist, so the container runtime would use it; fix: move it out of CONF and remove the CNI that wrote it",
        ],
    ],
    [
        "an old Calico .conf, which sorts before the .conflist",
        () => fs.writeFileSync(path.join(confDir, "10-calico.conf"), "{}"),
        {},
        [
            "preflight cka001: another CNI's config CONF/10-calico.conf sorts before 10-calico.conflist, so the container runtime would use it; fix: move it out of CONF and remove the CNI that wrote it",
        ],
    ],
    [
        "IPv4 forwarding off",
        () => write("proc/sys/net/ipv4/ip_forward", "0\n"),
        {},
        [
            "preflight cka001: net.ipv4.ip_forward is 0, so the node would not forward pod traffic; fix: sysctl -w net.ipv4.ip_forward=1, and keep it in /etc/sysctl.d/",
        ],
    ],
    [
        "IPv6 forwarding off with dual-stack",
        () => write("proc/sys/net/ipv6/conf/all/forwarding", "0\n"),
        { ipv6: true },
        [
            "preflight cka001: net.ipv6.conf.all.forwarding is 0, so the node would not forward pod traffic; fix: sysctl -w net.ipv6.conf.all.forwarding=1, and keep it in /etc/sysctl.d/",
        ],
    ],
    [
        "NetworkManager running with no rule",
        () => write("proc/77/comm", "NetworkManager\n"),
        {},
        [
            "preflight cka001: NetworkManager runs and no unmanaged-devices rule covers interface-name:cali* interface-name:tunl*, so it would take over Calico's interfaces (calico#3271); fix: put [keyfile] unmanaged-devices=interface-name:cali*;interface-name:tunl* in /etc/NetworkManager/conf.d/calico.conf and run nmcli general reload conf, or set calico:cni.manageNetworkManager true",
        ],
    ],
    [
        "NetworkManager with a rule that misses the IPIP tunnel",
        () => {
            write("proc/77/comm", "NetworkManager\n");
            write("etc/NetworkManager/NetworkManager.conf", "[keyfile]\nunmanaged-devices=interface-name:eth9, interface-name:cali*\n");
        },
        {},
        [
            "preflight cka001: NetworkManager runs and no unmanaged-devices rule covers interface-name:tunl*, so it would take over Calico's interfaces (calico#3271); fix: put [keyfile] unmanaged-devices=interface-name:cali*;interface-name:tunl* in /etc/NetworkManager/conf.d/calico.conf and run nmcli general reload conf, or set calico:cni.manageNetworkManager true",
        ],
    ],
    [
        "the eBPF dataplane without /sys/fs/bpf",
        () => fs.rmdirSync(path.join(root, "sys/fs/bpf")),
        { bpf: true },
        [
            "preflight cka001: /sys/fs/bpf is missing, so this kernel has no BPF file system for the eBPF dataplane; fix: boot a kernel with eBPF support (5.3 or later), or set calico:calicoNode.dataplane iptables",
        ],
    ],
    [
        "kube-proxy still running where the eBPF dataplane replaces it",
        () => write("proc/4242/comm", "kube-proxy\n"),
        { bpf: true, kubeProxyRemoved: true },
        [
            "preflight cka001: kube-proxy runs here while calicoNode.kubeProxy is removed, so Felix would delete its rules as fast as it writes them; fix: turn kube-proxy off (docs/styles.md: kube-proxy and the eBPF dataplane), or set calico:calicoNode.kubeProxy running",
        ],
    ],
    [
        "TCP 179 dropped on the way to a peer that is up",
        () => undefined,
        { peers: [{ name: "cka003", address: "192.0.2.1" }] },
        [
            "preflight cka001: node cka003 (192.0.2.1) answers, but not on TCP PORT, so BIRD cannot peer with it; fix: allow TCP PORT between the nodes (firewall, security group)",
        ],
    ],
])("%s", (_name, plant, p, lines) => {
    test("is reported with the node's name and the fix, and fails the node", () => {
        plant();
        const before = snapshot();
        // The table is built before the temp tree exists: its paths and port are filled in here.
        const expected = lines.map((l) => l.replace(/PORT/g, String(bgpPort)).replace(/CONF/g, confDir));
        expect(check(p)).toEqual({ status: 1, stderr: [...expected, FAILED, ""].join("\n") });
        expect(snapshot()).toEqual(before);
    });
});

test("every problem on the node at once", () => {
    fs.writeFileSync(path.join(confDir, "10-bridge.conflist"), "{}");
    fs.writeFileSync(path.join(confDir, "00-weave.conf"), "{}");
    write("proc/sys/net/ipv4/ip_forward", "0\n");
    write("proc/77/comm", "NetworkManager\n");
    const r = check({ peers: [{ name: "cka003", address: "192.0.2.1" }] });
    expect(r.status).toBe(1);
    // Each check's line, in the script's order (the full texts are in the table above).
    expect(r.stderr.split("\n").map((l) => l.replace(confDir, "CONF").slice(0, 50))).toEqual([
        "preflight cka001: another CNI's config CONF/00-wea",
        "preflight cka001: another CNI's config CONF/10-bri",
        "preflight cka001: net.ipv4.ip_forward is 0, so the",
        "preflight cka001: NetworkManager runs and no unman",
        "preflight cka001: node cka003 (192.0.2.1) answers,",
        "preflight cka001: nothing was written to this node",
        "",
    ]);
});

test("a peer that does not answer at all (down) is a warning, not a failure: the other nodes go on", () => {
    const r = check({
        peers: [
            { name: "cka002", address: "127.0.0.1" },
            { name: "cka003", address: "192.0.2.9" },
        ],
    });
    expect(r).toEqual({
        status: 0,
        stderr: `preflight cka001: warning: node cka003 (192.0.2.9) does not answer at all (down?), so TCP ${bgpPort} to it was not checked\n`,
    });
});

test("a peer refusing the connection (nothing listens yet, as before BIRD starts) is reachable", () => {
    // 127.0.0.2 is local, and nothing listens on the port there.
    expect(check({ peers: [{ name: "cka002", address: "127.0.0.2" }] })).toEqual({ status: 0, stderr: "" });
});

test("without bash or timeout, the TCP check is skipped with a warning", () => {
    // A PATH with the shell tools the checks use, and neither bash nor timeout.
    const bare = path.join(dir, "bare");
    fs.mkdirSync(bare);
    for (const tool of ["sh", "cat", "sed", "tr", "sort", "head"])
        fs.symlinkSync(spawnSync("/bin/sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim(), path.join(bare, tool));
    const r = spawnSync(
        "/bin/sh",
        ["-c", asRoot(preflightScript(plan({ peers: [{ name: "b", address: "192.0.2.1" }] }), { root }), "root")],
        {
            encoding: "utf8",
            env: { PATH: bare },
        },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("warning: no bash or timeout here, so TCP 179 to the other nodes was not checked");
});

test("NetworkManager's rule from cni.manageNetworkManager covers every Calico interface", () => {
    write("proc/77/comm", "NetworkManager\n");
    write("etc/NetworkManager/conf.d/calico.conf", networkManagerConf());
    expect(check({ interfaces: Object.values(CALICO_INTERFACES).map((i) => ({ ...i })) })).toEqual({ status: 0, stderr: "" });
});

test("a failed preflight stops the install before it writes any file", () => {
    write("proc/sys/net/ipv4/ip_forward", "0\n");
    const binDir = path.join(root, "opt/cni/bin");
    const install = cniInstallScript({
        binDir,
        uploadDir: path.join(dir, "up"),
        binaries: [],
        recordPath: path.join(root, "record"),
        ownerPath: path.join(confDir, "calico-kubeconfig"),
    });
    const files = frameFiles([{ path: path.join(confDir, "10-calico.conflist"), mode: "0644", content: "{}" }]);
    const before = snapshot();
    const r = run(`${preflightScript(plan(), { root })}\n${install}`, files);
    expect(r.status).toBe(1);
    expect(snapshot()).toEqual(before);
    expect(fs.existsSync(binDir)).toBe(false);
    // Fixed, the same command installs.
    write("proc/sys/net/ipv4/ip_forward", "1\n");
    expect(run(`${preflightScript(plan(), { root })}\n${install}`, files).status).toBe(0);
    expect(fs.readFileSync(path.join(confDir, "10-calico.conflist"), "utf8")).toBe("{}");
});

describe("preflightPlan", () => {
    const nodes = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ name: `n${String(i).padStart(2, "0")}`, address: `10.0.0.${i + 1}` }));

    test("by default no peer list: a node's install names no other node (stable identity)", () => {
        expect(resolvedConfig().nodes.map((n) => preflightPlan(resolvedConfig(), n.name).peers)).toEqual([[], [], []]);
    });

    test("the lab with cni.preflightBgpPeers: every other node's address, the interfaces in use, no eBPF checks", () => {
        const raw: any = labRaw();
        raw.cni.preflightBgpPeers = true;
        raw.pools[0].ipipMode = "Always";
        const p = preflightPlan(resolvedConfig(raw), "cka002");
        expect(p).toEqual({
            node: "cka002",
            confDir: "/etc/cni/net.d",
            ipv6: false,
            interfaces: [CALICO_INTERFACES.workloads, CALICO_INTERFACES.ipip],
            bpf: false,
            kubeProxyRemoved: false,
            peerChecks: true,
            peers: [
                { name: "cka003", address: "172.16.0.13" },
                { name: "cka001", address: "172.16.0.11" },
            ],
        });
    });

    test("internalAddress where given; shared SSH addresses (the sandbox's 127.0.0.1) only once, never its own", () => {
        const raw: any = labRaw();
        raw.cni.preflightBgpPeers = true;
        raw.nodes = [
            { name: "a", address: "127.0.0.1", port: 2221, internalAddress: "172.30.0.11" },
            { name: "b", address: "127.0.0.1", port: 2222, internalAddress: "172.30.0.12" },
            { name: "c", address: "127.0.0.1", port: 2223 },
        ];
        raw.cluster.caFromNode = undefined;
        const cfg = resolvedConfig(raw);
        expect(preflightPlan(cfg, "a").peers).toEqual([{ name: "b", address: "172.30.0.12" }]);
        expect(preflightPlan(cfg, "c").peers).toEqual([
            { name: "a", address: "172.30.0.11" },
            { name: "b", address: "172.30.0.12" },
        ]);
    });

    test(`more than ${MAX_PREFLIGHT_PEERS} peers: the ones that follow by name, wrapping around`, () => {
        const raw: any = labRaw();
        raw.cni.preflightBgpPeers = true;
        raw.nodes = nodes(40);
        const p = preflightPlan(resolvedConfig(raw), "n30");
        expect(p.peers.map((x) => x.name)).toEqual([...nodes(40).slice(31), ...nodes(40).slice(0, 7)].map((n) => n.name));
        expect(p.peers).toHaveLength(MAX_PREFLIGHT_PEERS);
    });

    test("no BGP, no TCP check; the mesh off with reflectors: the rest check only the reflectors", () => {
        const vx: any = labRaw();
        vx.calicoNode = { backend: "vxlan" };
        vx.pools[0].vxlanMode = "Always";
        expect(preflightPlan(resolvedConfig(vx), "cka001").peers).toEqual([]);
        const rr: any = labRaw();
        rr.cni.preflightBgpPeers = true;
        rr.bgp = { nodeToNodeMesh: false };
        rr.nodes[0].routeReflectorClusterId = "244.0.0.1";
        const cfg = resolvedConfig(rr);
        expect(preflightPlan(cfg, "cka002").peers.map((p) => p.name)).toEqual(["cka001"]);
        expect(preflightPlan(cfg, "cka001").peers.map((p) => p.name)).toEqual(["cka002", "cka003"]);
    });

    test("with cni.manageNetworkManager the program writes the rule, so nothing to check; eBPF and dual-stack add theirs", () => {
        const raw: any = labRaw();
        raw.cni.manageNetworkManager = true;
        raw.calicoNode = { dataplane: "bpf", kubeProxy: "removed" };
        const p = preflightPlan(resolvedConfig(raw), "cka001");
        expect([p.interfaces, p.bpf, p.kubeProxyRemoved]).toEqual([[], true, true]);
    });
});

describe("the preflight and cni.manageNetworkManager under mocks", () => {
    const CMD = "command:remote:Command";

    test("each node's install runs the staged script, which starts with the preflight, with the node's own name", async () => {
        const cfg = resolvedConfig();
        await buildProgram(cfg);
        expect(stagedScript(INSTALL_SCRIPT).startsWith(`set -eu\nnode=$1 peers=\${2:-}\nn=$node r=`)).toBe(true);
        const dir = `${CNI_UPLOAD_DIR}/${stagedDir(stagedPlans[0]!.digest).split("/").pop()}`;
        for (const n of cfg.nodes) {
            expect(find(CMD, `${n.name}-cni-install`).inputs.create).toBe(
                asRoot(hostInstallCommand(dir, preflightPlan(cfg, n.name)), "root"),
            );
        }
    });

    test("writes the NetworkManager rule before the conflist, reloads NetworkManager after, removes the rule on delete", async () => {
        const raw: any = labRaw();
        raw.cni.manageNetworkManager = true;
        await buildProgram(resolvedConfig(raw));
        const files = installedFiles("cka001");
        expect(files.map((f) => f.path)).toEqual([
            "/etc/cni/net.d/calico-kubeconfig",
            NETWORK_MANAGER_CONF,
            "/etc/cni/net.d/10-calico.conflist",
        ]);
        expect(files[1]).toEqual({ path: NETWORK_MANAGER_CONF, mode: "0644", content: networkManagerConf() });
        const install = stagedScript(INSTALL_SCRIPT);
        expect(install.endsWith(`${NETWORK_MANAGER_RELOAD}\n`)).toBe(true);
        expect(install).not.toContain("runs NetworkManager");
        expect(stagedScript(UNINSTALL_SCRIPT)).toContain(NETWORK_MANAGER_CONF);
    });
});
