import * as crypto from "crypto";
import * as dns from "dns";
import { parseAutodetect } from "../components/config/autodetect";
import type { CalicoConfig } from "../components/config/types";
import { isIp } from "../components/facts/cidr";
import { KUBE_SYSTEM } from "../components/facts/names";
import { checkAddresses } from "./checks/addresses";
import { checkBgp } from "./checks/bgp";
import { checkCalicoNode } from "./checks/calicoNode";
import { checkCerts } from "./checks/certs";
import { type ProbeOutcome, type ProbeRun, checkDataPath, checkPerf, outcomeOf } from "./checks/dataPath";
import { checkIpam } from "./checks/ipam";
import { checkTypha } from "./checks/typha";
import { type KPod, type NodeFact, type PodFact, nodeFact, podFact } from "./facts";
import * as gather from "./gather";
import { type Clock, type KubeApi, errorText, realClock } from "./kubeApi";
import {
    APP,
    APP_LABEL,
    RUN_LABEL,
    type Role,
    type SampledNode,
    type Task,
    connectivityTasks,
    podName,
    ROLE_LABEL,
    type ProbeSettings,
    probePod,
    sampleNodes,
} from "./probe";
import type { CheckResult } from "./types";
import { result } from "./types";

export interface RunOptions {
    perf: boolean;
    /** Overrides verify.sampleNodes. */
    sample?: number;
    log: (line: string) => void;
    /** Registers what to undo on Ctrl-C (the CLI runs these before it exits). */
    onCleanup: (name: string, f: () => Promise<void>) => void;
    clock?: Clock;
}

/** Polls the run's pods until `done` holds for each named one, or the time is up; returns the last view. */
async function waitPods(
    kube: KubeApi,
    clock: Clock,
    ns: string,
    runId: string,
    names: string[],
    done: (p: PodFact) => boolean,
    timeoutMs: number,
): Promise<Map<string, PodFact>> {
    const deadline = clock.now() + timeoutMs;
    let view = new Map<string, PodFact>();
    for (;;) {
        const [pods, events] = await Promise.all([kube.pods(ns, `${RUN_LABEL}=${runId}`), kube.events(ns).catch(() => [])]);
        view = new Map(pods.map((p: KPod) => [p.metadata.name, podFact(p, events)]));
        if (names.every((n) => view.has(n) && done(view.get(n)!)) || clock.now() > deadline) return view;
        await clock.sleep(1000);
    }
}

const started = (p: PodFact) => p.phase === "Running" && p.podIps.length > 0;
const finished = (p: PodFact) => p.terminated !== undefined || p.phase === "Failed" || p.phase === "Succeeded";
const missingPod = (name: string, node: string): PodFact => ({
    namespace: "",
    name,
    node,
    phase: "Pending",
    ready: false,
    hostNetwork: false,
    podIps: [],
    reason: "not created",
});

async function resolveCanReach(destination: string): Promise<string | undefined> {
    if (isIp(destination)) return destination;
    try {
        return (await dns.promises.lookup(destination)).address;
    } catch {
        return undefined;
    }
}

/** What every check reads: the stack's config and outputs, the cluster, and its nodes and Calico's pods read once. */
interface Run {
    cfg: CalicoConfig;
    outputs: Record<string, unknown>;
    kube: KubeApi;
    o: RunOptions;
    clock: Clock;
    timeoutMs: number;
    nodes: NodeFact[];
    calicoNodePods: PodFact[];
    typhaPods: KPod[];
}

/** What the probe pods found: the Data path result, and each probe's outcome for the Typha and perf checks. */
interface Probes {
    result: CheckResult;
    outcomes: ProbeOutcome[];
    perfPod?: ProbeOutcome;
    perfHost?: ProbeOutcome;
}

/** A check that could not run fails, naming the error, instead of ending the report. */
async function guard(name: string, f: () => Promise<CheckResult>): Promise<CheckResult> {
    try {
        return await f();
    } catch (e) {
        return result(
            name,
            "fail",
            "could not be checked",
            [errorText(e)],
            "check that the kubeconfig reaches the cluster with cluster-admin rights and that `pulumi up` has run.",
        );
    }
}

/** Every check against the live cluster of one stack, in the order the report lists them. */
export async function runChecks(cfg: CalicoConfig, outputs: Record<string, unknown>, kube: KubeApi, o: RunOptions): Promise<CheckResult[]> {
    o.log(`reading nodes and Calico's pods (context ${kube.context})`);
    const [knodes, cnPods, typhaPods, sysEvents] = await Promise.all([
        kube.nodes(),
        kube.pods(KUBE_SYSTEM, gather.CALICO_NODE_SELECTOR),
        kube.pods(KUBE_SYSTEM, gather.TYPHA_SELECTOR),
        kube.events(KUBE_SYSTEM).catch(() => []),
    ]);
    const r: Run = {
        cfg,
        outputs,
        kube,
        o,
        clock: o.clock ?? realClock,
        timeoutMs: cfg.verify.timeoutSeconds * 1000,
        nodes: knodes.map(nodeFact),
        calicoNodePods: cnPods.map((p) => podFact(p, sysEvents)),
        typhaPods,
    };
    // BGP status reports take a few seconds: they are gathered while the other checks and the probes run.
    const bgp = guard("BGP", () => bgpCheck(r));
    const addresses = await guard("Node addresses", () => addressesCheck(r));
    const ipam = await guard("IPAM", () => ipamCheck(r));
    const probes = await dataPath(r);
    return [
        calicoNodeCheck(r),
        await bgp,
        addresses,
        ipam,
        probes.result,
        await guard("Certificates", () => certsCheck(r)),
        typhaCheck(r, probes),
        ...(o.perf ? [checkPerf({ probes: probes.outcomes, perfPod: probes.perfPod, perfHost: probes.perfHost })] : []),
    ];
}

function calicoNodeCheck(r: Run): CheckResult {
    return checkCalicoNode({ nodes: r.nodes, pods: r.calicoNodePods, configNodes: r.cfg.nodes.map((n) => n.name) });
}

async function bgpCheck({ cfg, kube, o, clock, timeoutMs, nodes }: Run): Promise<CheckResult> {
    const wanted = cfg.calicoNode.backend === "bird" && cfg.datastore.type === "kubernetes";
    const statuses = wanted
        ? await gather.nodeStatuses(
              kube,
              clock,
              nodes.map((n) => n.name),
              Math.min(timeoutMs, 60_000),
              (created) =>
                  o.onCleanup("CalicoNodeStatus", async () => {
                      for (const c of created)
                          await kube.deleteCluster("crd.projectcalico.org", "v1", "caliconodestatuses", c).catch(() => undefined);
                  }),
          )
        : [];
    const reflectors = cfg.nodes.some((n) => n.routeReflectorClusterId !== undefined);
    return checkBgp({
        backend: cfg.calicoNode.backend,
        datastore: cfg.datastore.type,
        fullMesh: cfg.bgp.nodeToNodeMesh && !reflectors,
        nodes,
        statuses,
        waitedSeconds: Math.min(cfg.verify.timeoutSeconds, 60),
    });
}

async function addressesCheck({ cfg, nodes }: Run): Promise<CheckResult> {
    const method = parseAutodetect(cfg.calicoNode.ipAutodetectionMethod);
    if (!method.ok) return result("Node addresses", "fail", method.reason);
    if (cfg.datastore.type !== "kubernetes")
        return result("Node addresses", "skip", "etcd datastore: Calico's node addresses are in etcd (calicoctl get nodes -o wide)");
    const canReachIp = method.method.kind === "can-reach" ? await resolveCanReach(method.method.destination) : undefined;
    return checkAddresses({ nodes, method: method.method, methodText: cfg.calicoNode.ipAutodetectionMethod, canReachIp });
}

async function ipamCheck({ cfg, kube }: Run): Promise<CheckResult> {
    if (cfg.datastore.type !== "kubernetes")
        return result("IPAM", "skip", "etcd datastore: IPAM blocks are in etcd (calicoctl ipam show --show-blocks)");
    const [livePools, liveBlocks, allPods] = await Promise.all([gather.pools(kube), gather.blocks(kube), kube.pods(undefined)]);
    const podNet = allPods
        .map((p) => podFact(p))
        .filter((p) => !p.hostNetwork && p.podIps.length > 0 && p.phase !== "Succeeded" && p.phase !== "Failed");
    return checkIpam({
        ipam: cfg.cni.ipam,
        pools: livePools,
        configPools: cfg.pools,
        blocks: cfg.cni.ipam === "calico-ipam" ? liveBlocks : [],
        pods: podNet,
    });
}

/** The data path: probe pods in verify's own namespace, removed afterwards whatever happens. */
async function dataPath(r: Run): Promise<Probes> {
    const { cfg, kube, o } = r;
    const v = cfg.verify;
    const ns = v.namespace;
    const settings: ProbeSettings = {
        namespace: ns,
        image: v.probeImage,
        mtu: cfg.mtu,
        perf: o.perf,
        pings: 5,
        perfSeconds: v.perfSeconds,
        httpRequests: 200,
        lifetimeSeconds: 4 * v.timeoutSeconds + (o.perf ? 4 * v.perfSeconds : 0) + 60,
        runId: crypto.randomBytes(4).toString("hex"),
    };
    let createdNs = false;
    const cleanup = async () => {
        await kube.deletePods(ns, `${APP_LABEL}=${APP}`).catch(() => undefined);
        if (createdNs) await kube.deleteNamespace(ns).catch(() => undefined);
    };
    o.onCleanup("probe pods", cleanup);
    const probes: Omit<Probes, "result"> = { outcomes: [] };
    try {
        const res = await guard("Data path", async () => {
            createdNs = await kube.ensureNamespace(ns, { "pod-security.kubernetes.io/enforce": "privileged", [APP_LABEL]: APP });
            await kube.deletePods(ns, `${APP_LABEL}=${APP}`);
            return probeDataPath(r, settings, probes);
        });
        return { ...probes, result: res };
    } finally {
        o.log("removing the probe pods");
        await cleanup();
    }
}

/** Targets on the sampled nodes, then pod and host probes toward them (and --perf's runs); `probes` collects the outcomes. */
async function probeDataPath(r: Run, settings: ProbeSettings, probes: Omit<Probes, "result">): Promise<CheckResult> {
    const { cfg, kube, o, clock, timeoutMs, nodes } = r;
    const v = cfg.verify;
    const { namespace: ns, runId } = settings;
    const candidates: SampledNode[] = nodes.flatMap((n) => (n.internalIp ? [{ name: n.name, internalIp: n.internalIp }] : []));
    const sampled = sampleNodes(candidates, o.sample ?? v.sampleNodes);
    o.log(`probe pods on ${sampled.map((n) => n.name).join(", ")} (namespace ${ns}, image ${v.probeImage})`);
    const create = (role: Role, node: string, tasks: Task[] = []) => kube.createPod(ns, probePod(settings, role, node, tasks));
    for (const n of sampled) await create("target", n.name);
    const targetNames = sampled.map((n) => podName("target", n.name));
    let view = await waitPods(kube, clock, ns, runId, targetNames, (p) => started(p) || finished(p), timeoutMs);
    const targetIps: Record<string, string> = {};
    for (const n of sampled) {
        const p = view.get(podName("target", n.name));
        if (p && started(p)) targetIps[n.name] = p.podIps[0]!;
    }
    const tasks = connectivityTasks(sampled, targetIps, o.perf);
    const runs: { role: "probe" | "host"; node: string }[] = [];
    // A pod-network probe where the target could not start would fail the same way: its target names the cause.
    for (const n of sampled.filter((s) => targetIps[s.name] !== undefined)) {
        await create("probe", n.name, tasks.probe[n.name]);
        runs.push({ role: "probe", node: n.name });
    }
    const typhaNodes = typhaNodesOf(r);
    for (const n of new Set([...sampled.map((s) => s.name), ...typhaNodes])) {
        const typha =
            cfg.typha.enabled && cfg.typha.metricsPort !== 0 && typhaNodes.includes(n)
                ? [{ kind: "typha" as const, port: cfg.typha.metricsPort }]
                : [];
        await create("host", n, [...(tasks.host[n] ?? []), ...typha]);
        runs.push({ role: "host", node: n });
    }
    const probeNames = runs.map((x) => podName(x.role, x.node));
    o.log(`waiting for ${probeNames.length} probes to report`);
    view = await waitPods(kube, clock, ns, runId, probeNames, finished, timeoutMs);
    const probeRuns: ProbeRun[] = runs.map((x) => ({
        ...x,
        pod: view.get(podName(x.role, x.node)) ?? missingPod(podName(x.role, x.node), x.node),
    }));
    probes.outcomes.push(...probeRuns.map((x) => outcomeOf(x, v.timeoutSeconds)));
    if (o.perf && sampled.length >= 2) Object.assign(probes, await perfRuns(r, settings, sampled[0]!, sampled[1]!, targetIps));
    const finalView = await waitPods(kube, clock, ns, runId, [], () => true, 0);
    const probeLabels = (["target", "probe"] as const).map((role) => ({ [APP_LABEL]: APP, [ROLE_LABEL]: role, [RUN_LABEL]: runId }));
    return checkDataPath({
        sampled: sampled.map((n) => n.name),
        totalNodes: nodes.length,
        mtu: cfg.mtu,
        targets: sampled.map((n) => ({
            node: n.name,
            pod: finalView.get(podName("target", n.name)) ?? missingPod(podName("target", n.name), n.name),
        })),
        probes: probeRuns,
        policies: await gather.policies(kube, ns, probeLabels),
        waitedSeconds: v.timeoutSeconds,
    });
}

/** --perf: iperf3 and HTTP from `a` to `b`, over the pod network and then the host network. */
async function perfRuns(
    { kube, o, clock, timeoutMs, cfg }: Run,
    settings: ProbeSettings,
    a: SampledNode,
    b: SampledNode,
    targetIps: Record<string, string>,
): Promise<{ perfPod: ProbeOutcome; perfHost: ProbeOutcome }> {
    const { namespace: ns, runId } = settings;
    const v = cfg.verify;
    const create = (role: Role, node: string, tasks: Task[] = []) => kube.createPod(ns, probePod(settings, role, node, tasks));
    o.log(`--perf: ${a.name} -> ${b.name}, pod network then host network`);
    await create("host-target", b.name);
    await waitPods(kube, clock, ns, runId, [podName("host-target", b.name)], (p) => started(p) || finished(p), timeoutMs);
    const perfRun = async (role: "perf-pod" | "perf-host", ip: string | undefined): Promise<ProbeOutcome> => {
        await create(
            role,
            a.name,
            ip
                ? [
                      { kind: "iperf", to: b.name, ip },
                      { kind: "http", to: b.name, ip },
                  ]
                : [],
        );
        const w = await waitPods(kube, clock, ns, runId, [podName(role, a.name)], finished, timeoutMs + 2 * v.perfSeconds * 1000);
        const run: ProbeRun = {
            role: role === "perf-pod" ? "probe" : "host",
            node: a.name,
            pod: w.get(podName(role, a.name)) ?? missingPod(podName(role, a.name), a.name),
        };
        return outcomeOf(run, v.timeoutSeconds);
    };
    const perfPod = await perfRun("perf-pod", targetIps[b.name]);
    const perfHost = await perfRun("perf-host", b.internalIp);
    return { perfPod, perfHost };
}

async function certsCheck({ cfg, kube, outputs }: Run): Promise<CheckResult> {
    return checkCerts({
        certs: await gather.certs(kube, cfg.typha.enabled, outputs.cniClientCert, cfg.cni.delivery === "ssh"),
        now: new Date(),
        earlyRenewalHours: cfg.pki.earlyRenewalHours,
    });
}

function typhaNodesOf(r: Run): string[] {
    return r.typhaPods.map((p) => p.spec?.nodeName ?? "").filter((n) => n !== "");
}

/** Typha's Felix connections, from the host probe on each Typha pod's node. */
function typhaCheck(r: Run, probes: Probes): CheckResult {
    const replicas = r.typhaPods.map((p) => {
        const node = p.spec?.nodeName ?? "";
        const hostRun = probes.outcomes.find((x) => x.run.role === "host" && x.run.node === node);
        const entry = hostRun?.entries.find((e) => e.k === "typha");
        return {
            pod: p.metadata.name,
            node,
            felix: entry?.k === "typha" && entry.felix !== null ? entry.felix : undefined,
            error: hostRun?.error ?? (entry?.err || (entry ? undefined : "no host probe result on its node")),
        };
    });
    const t = r.cfg.typha;
    return checkTypha({ enabled: t.enabled, metricsPort: t.metricsPort, replicas, calicoNodePods: r.calicoNodePods });
}
