import type { PodFact, PolicyFact } from "../facts";
import { type Entry, type PingEntry, parseProbeMessage } from "../results";
import { type CheckResult, result, worst } from "../types";

export interface ProbeRun {
    role: "probe" | "host";
    node: string;
    pod: PodFact;
}

export interface DataPathFacts {
    /** The sampled nodes, and how many there are in all. */
    sampled: string[];
    totalNodes: number;
    mtu: number;
    targets: { node: string; pod: PodFact }[];
    probes: ProbeRun[];
    policies: PolicyFact[];
    waitedSeconds: number;
}

export interface ProbeOutcome {
    run: ProbeRun;
    entries: Entry[];
    /** Why there are no entries. */
    error?: string;
}

/** A probe's entries, or why it has none (did not start, did not finish, failed). */
export function outcomeOf(run: ProbeRun, waitedSeconds: number): ProbeOutcome {
    const t = run.pod.terminated;
    if (!t) return { run, entries: [], error: `did not finish within ${waitedSeconds}s: ${run.pod.reason || run.pod.phase}` };
    const parsed = parseProbeMessage(t.message);
    if (!parsed.ok) return { run, entries: [], error: `exited ${t.exitCode}: ${parsed.error}` };
    return { run, entries: parsed.entries };
}

const lossOf = (e: { tx: number | null; rx: number | null }) => (e.tx ? Math.round((100 * (e.tx - (e.rx ?? 0))) / e.tx) : 100);

/**
 * Pod-to-pod pings across every sampled pair, node-to-pod pings, and a don't-fragment ping at the pod MTU,
 * all from probe pods' own results. Names each pair that lost packets, and a policy that selects the probes.
 */
export function checkDataPath(f: DataPathFacts): CheckResult {
    const details: string[] = [];
    const statuses: ("pass" | "warn" | "fail")[] = ["pass"];
    const fail = (d: string) => {
        details.push(d);
        statuses.push("fail");
    };
    let startFailures = 0;
    for (const t of [...f.targets].sort((a, b) => a.node.localeCompare(b.node))) {
        if (t.pod.phase !== "Running" || t.pod.podIps.length === 0) {
            startFailures++;
            fail(`${t.node}: target pod ${t.pod.name} did not start within ${f.waitedSeconds}s: ${t.pod.reason || t.pod.phase}`);
        }
    }
    const tally = { pod: [0, 0], host: [0, 0], df: [0, 0] };
    for (const run of [...f.probes].sort((a, b) => `${a.node}/${a.role}`.localeCompare(`${b.node}/${b.role}`))) {
        const o = outcomeOf(run, f.waitedSeconds);
        const from = run.role === "probe" ? `pod on ${run.node}` : `node ${run.node}`;
        if (o.error) {
            if (!run.pod.terminated) startFailures++;
            fail(`${from}: ${run.pod.name} ${o.error}`);
            continue;
        }
        for (const e of o.entries) {
            if (e.k === "ping" && !e.to.startsWith("node:")) {
                const t = run.role === "probe" ? tally.pod : tally.host;
                t[1]!++;
                const loss = lossOf(e);
                if (e.err && e.tx === null) fail(`${from} -> pod on ${e.to} (${e.ip}): ${e.err}`);
                else if (loss === 0) t[0]!++;
                else if (loss === 100) fail(`${from} -> pod on ${e.to} (${e.ip}): ${e.tx} sent, 0 received`);
                else {
                    details.push(`${from} -> pod on ${e.to} (${e.ip}): ${loss}% loss`);
                    statuses.push("warn");
                }
            } else if (e.k === "df") {
                tally.df[1]!++;
                if (e.rx === e.tx && e.tx) tally.df[0]!++;
                else
                    fail(
                        `${from} -> pod on ${e.to} (${e.ip}): don't-fragment ping of ${e.size} bytes (the pod MTU): ${e.rx ?? 0}/${e.tx ?? 0} received${e.err ? `: ${e.err}` : ""}`,
                    );
            }
        }
    }
    const sample =
        f.sampled.length < f.totalNodes ? ` (${f.sampled.length} of ${f.totalNodes} nodes sampled)` : ` (${f.sampled.length} nodes)`;
    const figures =
        `pod-to-pod ${tally.pod[0]}/${tally.pod[1]} pairs 0% loss, node-to-pod ${tally.host[0]}/${tally.host[1]}, ` +
        `DF ${f.mtu} bytes ${tally.df[0]}/${tally.df[1]}${sample}`;
    const status = worst(statuses);
    if (status === "pass") return result("Data path", "pass", figures);
    const policies = f.policies.filter((p) => p.selectsProbes !== false);
    for (const p of policies) {
        details.push(
            `${p.kind} ${p.namespace ? `${p.namespace}/` : ""}${p.name} ${p.selectsProbes ? "selects the probe pods" : "may apply to the probe pods (Calico selector, not evaluated)"}`,
        );
    }
    const fixes: string[] = [];
    if (startFailures > 0) {
        fixes.push(
            "a probe that did not start names the reason above: a CNI error means the node's CNI files are missing or broken (run `pulumi up` again once SSH to it works); an image pull error means verify.probeImage (or calico:registry) is not reachable from the nodes",
        );
    }
    if (policies.length > 0) fixes.push(`a policy above blocks the probes: delete or narrow it, or run verify in another verify.namespace`);
    if (details.some((d) => d.includes("0 received") || d.includes("% loss"))) {
        fixes.push(
            "packets lost between nodes: check BGP and Node addresses above, `ip route` on the sending node (a route to the other node's block via that node, or vxlan.calico), and that every node has a default route (the pods' gateway 169.254.1.1 is answered by proxy ARP only then)",
        );
    }
    if (details.some((d) => d.includes("don't-fragment"))) {
        fixes.push(
            "a don't-fragment ping at the pod MTU that fails means the pod MTU is too big for the path: set cni.mtu (or cluster.networkMtu) to what the nodes' network carries and run `pulumi up`",
        );
    }
    return result("Data path", status, figures, details, fixes.join("; ") + ".");
}

/** Mean of the numbers present; undefined when none is. */
function mean(xs: (number | null)[]): number | undefined {
    const v = xs.filter((x): x is number => typeof x === "number");
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
}

export interface PerfFacts {
    /** The connectivity probes (their pings carry the RTTs) and the two --perf clients. */
    probes: ProbeOutcome[];
    perfPod?: ProbeOutcome;
    perfHost?: ProbeOutcome;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

/** --perf: RTT, iperf3 and HTTP pod-to-pod as ratios to their node-to-node baselines, from one run. */
export function checkPerf(f: PerfFacts): CheckResult {
    const pings = (role: "probe" | "host", node: boolean) =>
        f.probes
            .filter((o) => o.run.role === role)
            .flatMap((o) => o.entries.filter((e): e is PingEntry => e.k === "ping" && e.to.startsWith("node:") === node && lossOf(e) < 100))
            .map((e) => e.ms);
    const figures: string[] = [];
    const details: string[] = [];
    const ratio = (label: string, unit: string, pod: number | undefined, node: number | undefined) => {
        if (pod === undefined || node === undefined || node === 0) {
            details.push(
                `${label}: not measured (pod ${pod === undefined ? "-" : fmt(pod)}, node ${node === undefined ? "-" : fmt(node)})`,
            );
            return;
        }
        figures.push(`${label} pod/node ${fmt(pod)}/${fmt(node)} ${unit} = ${(pod / node).toFixed(2)}x`);
    };
    ratio("RTT", "ms", mean(pings("probe", false)), mean(pings("host", true)));
    const of = (o: ProbeOutcome | undefined, k: "iperf" | "http") => o?.entries.find((e) => e.k === k);
    const err = (o: ProbeOutcome | undefined, k: "iperf" | "http") => {
        const e = of(o, k);
        if (o?.error) details.push(`${o.run.pod.name}: ${o.error}`);
        else if (e?.err) details.push(`${o?.run.pod.name} ${k}: ${e.err}`);
    };
    const mbps = (o: ProbeOutcome | undefined) => {
        const e = of(o, "iperf");
        return e?.k === "iperf" && e.mbps !== null ? e.mbps : undefined;
    };
    const rps = (o: ProbeOutcome | undefined) => {
        const e = of(o, "http");
        return e?.k === "http" && e.n && e.s ? e.n / e.s : undefined;
    };
    err(f.perfPod, "iperf");
    err(f.perfHost, "iperf");
    ratio("iperf3", "Mbit/s", mbps(f.perfPod), mbps(f.perfHost));
    err(f.perfPod, "http");
    err(f.perfHost, "http");
    ratio("HTTP", "req/s", rps(f.perfPod), rps(f.perfHost));
    const status = details.length === 0 ? "pass" : "warn";
    return result(
        "Performance",
        status,
        figures.join("; ") || "nothing measured",
        [...new Set(details)],
        status === "pass"
            ? ""
            : "a figure not measured names why; the probe image needs ping, iperf3, curl and busybox httpd (verify.probeImage).",
    );
}
