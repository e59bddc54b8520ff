import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkDataPath, checkPerf, outcomeOf, type ProbeRun } from "../verify/checks/dataPath";
import type { PodFact } from "../verify/facts";
import { connectivityTasks, podName, probePod, sampleNodes, type ProbeSettings } from "../verify/probe";
import { PROBE_SCRIPT, TARGET_SCRIPT } from "../verify/probeScript";
import { parseProbeMessage } from "../verify/results";
import { MAX_SAMPLE_NODES } from "../components/config/rules/verify";

const SETTINGS: ProbeSettings = {
    namespace: "calico-verify",
    image: "quay.io/submariner/nettest:0.24.0",
    mtu: 1500,
    perf: false,
    pings: 5,
    perfSeconds: 5,
    httpRequests: 200,
    lifetimeSeconds: 600,
    runId: "r1",
};
const SAMPLED = [
    { name: "n1", internalIp: "172.30.0.11" },
    { name: "n2", internalIp: "172.30.0.12" },
    { name: "n3", internalIp: "172.30.0.13" },
];
const IPS = { n1: "10.244.1.5", n2: "10.244.2.5", n3: "10.244.3.5" };

describe("probe pods", () => {
    test("a sample is spread over the nodes sorted by name, and is every node when there are few", () => {
        const nodes = Array.from({ length: 10 }, (_, i) => ({ name: `node-${String(i).padStart(2, "0")}` }));
        expect(sampleNodes(nodes, 4).map((n) => n.name)).toEqual(["node-00", "node-02", "node-05", "node-07"]);
        expect(sampleNodes([...nodes].reverse(), 20)).toEqual(nodes);
    });

    test("each probe pings every other node's target and sends a don't-fragment ping to the next; host probes ping the pods", () => {
        const t = connectivityTasks(SAMPLED, IPS, false);
        expect(t.probe.n1).toEqual([
            { kind: "ping", to: "n2", ip: "10.244.2.5" },
            { kind: "ping", to: "n3", ip: "10.244.3.5" },
            { kind: "df", to: "n2", ip: "10.244.2.5" },
        ]);
        expect(t.probe.n3!.at(-1)).toEqual({ kind: "df", to: "n1", ip: "10.244.1.5" });
        expect(t.host.n2).toEqual([
            { kind: "ping", to: "n1", ip: "10.244.1.5" },
            { kind: "ping", to: "n3", ip: "10.244.3.5" },
        ]);
        // --perf adds node-to-node pings over the same pairs (the RTT baseline); a node whose target never started is left out of both.
        const perf = connectivityTasks(SAMPLED, { n1: IPS.n1, n2: IPS.n2 }, true);
        // The don't-fragment ping goes to the next node that has a target.
        expect(connectivityTasks(SAMPLED, { n1: IPS.n1, n3: IPS.n3 }, false).probe.n1!.at(-1)).toEqual({
            kind: "df",
            to: "n3",
            ip: "10.244.3.5",
        });
        expect(perf.host.n1).toEqual([
            { kind: "ping", to: "n2", ip: "10.244.2.5" },
            { kind: "ping", to: "node:n2", ip: "172.30.0.12" },
        ]);
    });

    test.each([
        ["target", false],
        ["probe", false],
        ["host", true],
        ["host-target", true],
        ["perf-pod", false],
        ["perf-host", true],
    ] as const)("%s: pinned by node name, hostNetwork %s, never restarted, results in the termination message", (role, hostNetwork) => {
        const p = probePod(SETTINGS, role, "n1", [
            { kind: "ping", to: "n2", ip: "10.244.2.5" },
            { kind: "typha", port: 9093 },
        ]);
        expect(p.metadata).toEqual({
            name: podName(role, "n1"),
            namespace: "calico-verify",
            labels: { "app.kubernetes.io/name": "calico-verify", "calico-verify/role": role, "calico-verify/run": "r1" },
        });
        const spec = p.spec as any;
        expect(spec).toMatchObject({
            nodeName: "n1",
            hostNetwork,
            restartPolicy: "Never",
            activeDeadlineSeconds: 600,
            tolerations: [{ operator: "Exists" }],
        });
        const c = spec.containers[0];
        expect(c.image).toBe("quay.io/submariner/nettest:0.24.0");
        expect(c.terminationMessagePath).toBe("/dev/termination-log");
        expect(c.terminationMessagePolicy).toBe("FallbackToLogsOnError");
        const server = role === "target" || role === "host-target";
        expect(c.command).toEqual(["sh", "-c", server ? TARGET_SCRIPT : PROBE_SCRIPT]);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
        expect(env).toMatchObject({ TASKS: "ping,n2,10.244.2.5 typha,typha,9093", MTU: "1500", PERF: "0", LIFETIME: "600" });
    });

    test("the scripts never write $(NAME) of one of their env vars, nor $$ (Kubernetes would expand them in the command)", () => {
        const names = (probePod(SETTINGS, "probe", "n1").spec as any).containers[0].env.map((e: any) => e.name);
        for (const s of [PROBE_SCRIPT, TARGET_SCRIPT]) {
            expect(s).not.toContain("$$");
            for (const n of names) expect(s).not.toContain(`$(${n})`);
        }
    });
});

const podOf = (name: string, over: Partial<PodFact> = {}): PodFact => ({
    namespace: "calico-verify",
    name,
    node: "n1",
    phase: "Succeeded",
    ready: false,
    hostNetwork: false,
    podIps: ["10.244.1.9"],
    reason: "",
    ...over,
});
const msg = (entries: object[]) => JSON.stringify({ v: 1, r: entries });
const ping = (to: string, ip: string, rx = 5, ms = 0.2) => ({ k: "ping", to, ip, tx: 5, rx, ms, err: "" });
const df = (to: string, ip: string, rx = 3, err = "") => ({ k: "df", to, ip, size: 1500, tx: 3, rx, err });
const run = (role: "probe" | "host", node: string, entries: object[] | string, over: Partial<PodFact> = {}): ProbeRun => ({
    role,
    node,
    pod: podOf(podName(role, node), {
        node,
        terminated: { exitCode: 0, message: typeof entries === "string" ? entries : msg(entries) },
        ...over,
    }),
});
const targets = ["n1", "n2"].map((n) => ({
    node: n,
    pod: podOf(podName("target", n), { node: n, phase: "Running", podIps: [IPS[n as "n1" | "n2"]] }),
}));
const healthyProbes = [
    run("probe", "n1", [ping("n2", IPS.n2), df("n2", IPS.n2)]),
    run("probe", "n2", [ping("n1", IPS.n1), df("n1", IPS.n1)]),
    run("host", "n1", [ping("n2", IPS.n2)]),
    run("host", "n2", [ping("n1", IPS.n1)]),
];
const base = { sampled: ["n1", "n2"], totalNodes: 2, mtu: 1500, targets, policies: [], waitedSeconds: 120 };

test("the largest sample's host probe with --perf fits the 4 KiB termination message, with 63-character node names", () => {
    const nodes = Array.from({ length: MAX_SAMPLE_NODES }, (_, i) => ({
        name: `${"n".repeat(60)}-${String(i).padStart(2, "0")}`,
        internalIp: `172.30.100.${100 + i}`,
    }));
    const ips = Object.fromEntries(nodes.map((n, i) => [n.name, `10.244.255.${100 + i}`]));
    const tasks = connectivityTasks(nodes, ips, true).host[nodes[0]!.name]!;
    // What the script writes for each task, with the widest figures it prints.
    const entries = tasks.map((t) => (t.kind === "ping" ? { k: "ping", to: t.to, ip: t.ip, tx: 5, rx: 5, ms: 123.456, err: "" } : {}));
    const text = JSON.stringify({ v: 1, r: [...entries, { k: "typha", to: "typha", ip: "9093", felix: 1000, err: "" }] });
    expect(tasks).toHaveLength(2 * (MAX_SAMPLE_NODES - 1));
    expect(Buffer.byteLength(text)).toBeLessThan(4096);
});

describe("data path", () => {
    test("termination messages: JSON results, or the log tail of a script that died", () => {
        expect(parseProbeMessage(msg([ping("n2", IPS.n2), { k: "bogus" }]))).toEqual({ ok: true, entries: [ping("n2", IPS.n2)] });
        expect(parseProbeMessage("sh: 1: ping: not found\nline two\n")).toEqual({ ok: false, error: "sh: 1: ping: not found | line two" });
        expect(parseProbeMessage('{"other": 1}')).toEqual({ ok: false, error: "termination message is not a verify probe result" });
        expect(parseProbeMessage('{"v":1,"r":[{"k":"ping","to":"n2"')).toEqual({
            ok: false,
            error: "the result was cut at the 4 KiB termination message limit; lower verify.sampleNodes (or --sample)",
        });
    });

    test.each([
        ["healthy", healthyProbes, [], "pass", "pod-to-pod 2/2 pairs 0% loss, node-to-pod 2/2, DF 1500 bytes 2/2 (2 nodes)", []],
        [
            "a NetworkPolicy blocks the probes",
            [run("probe", "n1", [ping("n2", IPS.n2, 0), df("n2", IPS.n2, 0)]), ...healthyProbes.slice(1)],
            [
                { kind: "NetworkPolicy", namespace: "calico-verify", name: "deny-all", selectsProbes: true },
                { kind: "NetworkPolicy", namespace: "calico-verify", name: "other-app", selectsProbes: false },
            ],
            "fail",
            "pod-to-pod 1/2 pairs 0% loss, node-to-pod 2/2, DF 1500 bytes 1/2 (2 nodes)",
            [
                "pod on n1 -> pod on n2 (10.244.2.5): 5 sent, 0 received",
                "pod on n1 -> pod on n2 (10.244.2.5): don't-fragment ping of 1500 bytes (the pod MTU): 0/3 received",
                "NetworkPolicy calico-verify/deny-all selects the probe pods",
            ],
        ],
        [
            "partial loss only warns",
            [run("probe", "n1", [ping("n2", IPS.n2, 4), df("n2", IPS.n2)]), ...healthyProbes.slice(1)],
            [],
            "warn",
            "pod-to-pod 1/2 pairs 0% loss, node-to-pod 2/2, DF 1500 bytes 2/2 (2 nodes)",
            ["pod on n1 -> pod on n2 (10.244.2.5): 20% loss"],
        ],
        [
            "the pod MTU is too big for the path",
            [
                run("probe", "n1", [ping("n2", IPS.n2), df("n2", IPS.n2, 0, "ping: local error: message too long, mtu=1450")]),
                ...healthyProbes.slice(1),
            ],
            [],
            "fail",
            "pod-to-pod 2/2 pairs 0% loss, node-to-pod 2/2, DF 1500 bytes 1/2 (2 nodes)",
            [
                "pod on n1 -> pod on n2 (10.244.2.5): don't-fragment ping of 1500 bytes (the pod MTU): 0/3 received: ping: local error: message too long, mtu=1450",
            ],
        ],
        [
            "a probe that never finished and one whose script died",
            [
                run("probe", "n1", "", {
                    phase: "Pending",
                    terminated: undefined,
                    reason: 'SandboxKubelet: network: failed to find plugin "calico"',
                }),
                run("probe", "n2", "sh: ping: not found", { terminated: { exitCode: 127, message: "sh: ping: not found" } }),
                ...healthyProbes.slice(2),
            ],
            [],
            "fail",
            "pod-to-pod 0/0 pairs 0% loss, node-to-pod 2/2, DF 1500 bytes 0/0 (2 nodes)",
            [
                'pod on n1: calico-verify-probe-n1 did not finish within 120s: SandboxKubelet: network: failed to find plugin "calico"',
                "pod on n2: calico-verify-probe-n2 exited 127: sh: ping: not found",
            ],
        ],
    ] as const)("%s", (_n, probes, policies, status, figures, details) => {
        const r = checkDataPath({ ...base, probes: [...probes], policies: [...policies] });
        expect([r.status, r.figures, r.details]).toEqual([status, figures, details]);
    });

    test("a target that did not start is named with its reason, and the fix points at the node's CNI files", () => {
        const stuck = {
            node: "n2",
            pod: podOf(podName("target", "n2"), {
                node: "n2",
                phase: "Pending",
                podIps: [],
                reason: "SandboxKubelet: network: no conflist in /etc/cni/net.d",
            }),
        };
        const r = checkDataPath({ ...base, targets: [targets[0]!, stuck], probes: healthyProbes });
        expect(r.details[0]).toBe(
            "n2: target pod calico-verify-target-n2 did not start within 120s: SandboxKubelet: network: no conflist in /etc/cni/net.d",
        );
        expect(r.fix).toContain("run `pulumi up` again once SSH to it works");
    });
});

describe("--perf", () => {
    const host = (entries: object[]) => outcomeOf(run("host", "n1", entries), 120);
    test("each figure is a ratio to its node-to-node baseline", () => {
        const probes = [
            outcomeOf(run("probe", "n1", [ping("n2", IPS.n2, 5, 0.3)]), 120),
            host([ping("n2", IPS.n2), ping("node:n2", "172.30.0.12", 5, 0.1)]),
        ];
        const perfPod = outcomeOf(
            run("probe", "n1", [
                { k: "iperf", to: "n2", ip: IPS.n2, mbps: 900, err: "" },
                { k: "http", to: "n2", ip: IPS.n2, n: 200, s: 0.5, err: "" },
            ]),
            120,
        );
        const perfHost = outcomeOf(
            run("host", "n1", [
                { k: "iperf", to: "n2", ip: "172.30.0.12", mbps: 1000, err: "" },
                { k: "http", to: "n2", ip: "172.30.0.12", n: 200, s: 0.4, err: "" },
            ]),
            120,
        );
        const r = checkPerf({ probes, perfPod, perfHost });
        expect([r.status, r.figures]).toEqual([
            "pass",
            "RTT pod/node 0.300/0.100 ms = 3.00x; iperf3 pod/node 900/1000 Mbit/s = 0.90x; HTTP pod/node 400/500 req/s = 0.80x",
        ]);
    });

    test("a figure not measured warns, naming why", () => {
        const perfPod = outcomeOf(
            run("probe", "n1", [{ k: "iperf", to: "n2", ip: IPS.n2, mbps: null, err: "no iperf3 in the probe image" }]),
            120,
        );
        const r = checkPerf({ probes: [], perfPod, perfHost: undefined });
        expect(r.status).toBe("warn");
        expect(r.details).toEqual([
            "RTT: not measured (pod -, node -)",
            "calico-verify-probe-n1 iperf: no iperf3 in the probe image",
            "iperf3: not measured (pod -, node -)",
            "HTTP: not measured (pod -, node -)",
        ]);
    });
});

describe("the probe script, run by sh with stand-in tools", () => {
    // Stand-ins print what iputils ping, iperf3 and curl print, so the script's parsing is what is tested.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-probe-"));
    const tool = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    tool(
        "ping",
        `case "$*" in
  *10.244.2.5*) printf 'PING x\\n\\n--- x ping statistics ---\\n5 packets transmitted, 5 received, 0%% packet loss, time 812ms\\nrtt min/avg/max/mdev = 0.040/0.056/0.074/0.012 ms\\n' ;;
  *"-M do"*) printf 'PING x\\nping: local error: message too long, mtu=1450\\n\\n--- x ping statistics ---\\n3 packets transmitted, 0 received, +3 errors, 100%% packet loss\\n'; exit 1 ;;
  *) printf 'PING x\\n\\n--- x ping statistics ---\\n5 packets transmitted, 0 packets received, 100%% packet loss\\n'; exit 1 ;;
esac`,
    );
    tool(
        "iperf3",
        `printf '[  5]   0.00-5.00   sec  5.45 GBytes  9363 Mbits/sec                  sender\\n[  5]   0.00-5.04   sec  5.44 GBytes  9280 Mbits/sec                  receiver\\n'`,
    );
    tool(
        "curl",
        `case "$*" in *metrics*) printf 'typha_connections_streaming{syncer="bgp"} 3\\ntypha_connections_streaming{syncer="felix"} 3\\n' ;; *) for i in 1 2 3 4; do printf '200 0.002500\\n'; done ;; esac`,
    );
    const out = path.join(dir, "termination-log");
    const env = {
        PATH: `${dir}:/usr/bin:/bin`,
        TERMINATION_LOG: out,
        TASKS: "ping,n2,10.244.2.5 ping,n3,10.244.3.5 df,n3,10.244.3.5 iperf,n2,10.244.2.5 http,n2,10.244.2.5 typha,typha,9093",
        MTU: "1500",
        PINGS: "5",
        PERF_SECONDS: "1",
        IPERF_PORT: "15201",
        HTTP_PORT: "18080",
        HTTP_REQUESTS: "4",
    };
    test("writes every task's result as one JSON object", () => {
        execFileSync("/bin/sh", ["-c", PROBE_SCRIPT], { env });
        const parsed = parseProbeMessage(fs.readFileSync(out, "utf8"));
        expect(parsed).toEqual({
            ok: true,
            entries: [
                { k: "ping", to: "n2", ip: "10.244.2.5", tx: 5, rx: 5, ms: 0.056, err: "" },
                { k: "ping", to: "n3", ip: "10.244.3.5", tx: 5, rx: 0, ms: null, err: "" },
                { k: "df", to: "n3", ip: "10.244.3.5", size: 1500, tx: 3, rx: 0, err: "ping: local error: message too long, mtu=1450" },
                { k: "iperf", to: "n2", ip: "10.244.2.5", mbps: 9280, err: "" },
                { k: "http", to: "n2", ip: "10.244.2.5", n: 4, s: 0.01, err: "" },
                { k: "typha", to: "typha", ip: "9093", felix: 3, err: "" },
            ],
        });
    });

    test("a tool missing from the image is reported, not fatal", () => {
        execFileSync("/bin/sh", ["-c", PROBE_SCRIPT], { env: { ...env, PATH: "/nonexistent", TASKS: "ping,n2,10.244.2.5" } });
        expect(parseProbeMessage(fs.readFileSync(out, "utf8"))).toEqual({
            ok: true,
            entries: [{ k: "ping", to: "n2", ip: "10.244.2.5", tx: null, rx: null, ms: null, err: "no ping in the probe image" }],
        });
    });
});
