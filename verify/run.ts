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
import { type KPod, type PodFact, nodeFact, podFact } from "./facts";
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

/** Every check against the live cluster of one stack, in the order the report lists them. */
export async function runChecks(cfg: CalicoConfig, outputs: Record<string, unknown>, kube: KubeApi, o: RunOptions): Promise<CheckResult[]> {
    const clock = o.clock ?? realClock;
    const v = cfg.verify;
    const timeoutMs = v.timeoutSeconds * 1000;
    o.log(`reading nodes and Calico's pods (context ${kube.context})`);
    const [knodes, cnPods, typhaPods, sysEvents] = await Promise.all([
        kube.nodes(),
        kube.pods(KUBE_SYSTEM, gather.CALICO_NODE_SELECTOR),
        kube.pods(KUBE_SYSTEM, gather.TYPHA_SELECTOR),
        kube.events(KUBE_SYSTEM).catch(() => []),
    ]);
    const nodes = knodes.map(nodeFact);
    const calicoNodePods = cnPods.map((p) => podFact(p, sysEvents));
    const results: CheckResult[] = [];
    const guard = async (name: string, f: () => Promise<CheckResult>): Promise<CheckResult> => {
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
    };
    results.push(checkCalicoNode({ nodes, pods: calicoNodePods, configNodes: cfg.nodes.map((n) => n.name) }));

    // BGP status reports take a few seconds: they run while the probes do.
    const bgpWanted = cfg.calicoNode.backend === "bird" && cfg.datastore.type === "kubernetes";
    const bgp = guard("BGP", async () => {
        const names = nodes.map((n) => n.name);
        const statuses = bgpWanted
            ? await gather.nodeStatuses(kube, clock, names, Math.min(timeoutMs, 60_000), (created) =>
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
            waitedSeconds: Math.min(v.timeoutSeconds, 60),
        });
    });

    const method = parseAutodetect(cfg.calicoNode.ipAutodetectionMethod);
    results.push(
        await guard("Node addresses", async () => {
            if (!method.ok) return result("Node addresses", "fail", method.reason);
            if (cfg.datastore.type !== "kubernetes")
                return result(
                    "Node addresses",
                    "skip",
                    "etcd datastore: Calico's node addresses are in etcd (calicoctl get nodes -o wide)",
                );
            const canReachIp = method.method.kind === "can-reach" ? await resolveCanReach(method.method.destination) : undefined;
            return checkAddresses({ nodes, method: method.method, methodText: cfg.calicoNode.ipAutodetectionMethod, canReachIp });
        }),
    );
    results.push(
        await guard("IPAM", async () => {
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
        }),
    );

    // The data path: probe pods in verify's own namespace.
    const runId = crypto.randomBytes(4).toString("hex");
    const ns = v.namespace;
    const settings = {
        namespace: ns,
        image: v.probeImage,
        mtu: cfg.mtu,
        perf: o.perf,
        pings: 5,
        perfSeconds: v.perfSeconds,
        httpRequests: 200,
        lifetimeSeconds: 4 * v.timeoutSeconds + (o.perf ? 4 * v.perfSeconds : 0) + 60,
        runId,
    };
    let createdNs = false;
    const cleanup = async () => {
        await kube.deletePods(ns, `${APP_LABEL}=${APP}`).catch(() => undefined);
        if (createdNs) await kube.deleteNamespace(ns).catch(() => undefined);
    };
    o.onCleanup("probe pods", cleanup);
    const outcomes: ProbeOutcome[] = [];
    let perfPod: ProbeOutcome | undefined;
    let perfHost: ProbeOutcome | undefined;
    const typhaNodes = typhaPods.map((p) => p.spec?.nodeName ?? "").filter((n) => n !== "");
    try {
        results.push(
            await guard("Data path", async () => {
                createdNs = await kube.ensureNamespace(ns, { "pod-security.kubernetes.io/enforce": "privileged", [APP_LABEL]: APP });
                await kube.deletePods(ns, `${APP_LABEL}=${APP}`);
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
                for (const n of new Set([...sampled.map((s) => s.name), ...typhaNodes])) {
                    const typha =
                        cfg.typha.enabled && cfg.typha.metricsPort !== 0 && typhaNodes.includes(n)
                            ? [{ kind: "typha" as const, port: cfg.typha.metricsPort }]
                            : [];
                    await create("host", n, [...(tasks.host[n] ?? []), ...typha]);
                    runs.push({ role: "host", node: n });
                }
                const probeNames = runs.map((r) => podName(r.role, r.node));
                o.log(`waiting for ${probeNames.length} probes to report`);
                view = await waitPods(kube, clock, ns, runId, probeNames, finished, timeoutMs);
                const probeRuns: ProbeRun[] = runs.map((r) => ({
                    ...r,
                    pod: view.get(podName(r.role, r.node)) ?? missingPod(podName(r.role, r.node), r.node),
                }));
                outcomes.push(...probeRuns.map((r) => outcomeOf(r, v.timeoutSeconds)));
                if (o.perf && sampled.length >= 2) {
                    const [a, b] = [sampled[0]!, sampled[1]!];
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
                        const w = await waitPods(
                            kube,
                            clock,
                            ns,
                            runId,
                            [podName(role, a.name)],
                            finished,
                            timeoutMs + 2 * v.perfSeconds * 1000,
                        );
                        const run: ProbeRun = {
                            role: role === "perf-pod" ? "probe" : "host",
                            node: a.name,
                            pod: w.get(podName(role, a.name)) ?? missingPod(podName(role, a.name), a.name),
                        };
                        return outcomeOf(run, v.timeoutSeconds);
                    };
                    perfPod = await perfRun("perf-pod", targetIps[b.name]);
                    perfHost = await perfRun("perf-host", b.internalIp);
                }
                const finalView = await waitPods(kube, clock, ns, runId, [], () => true, 0);
                const probeLabels = (["target", "probe"] as const).map((role) => ({
                    [APP_LABEL]: APP,
                    [ROLE_LABEL]: role,
                    [RUN_LABEL]: runId,
                }));
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
            }),
        );
    } finally {
        o.log("removing the probe pods");
        await cleanup();
    }

    results.splice(1, 0, await bgp);
    results.push(
        await guard("Certificates", async () =>
            checkCerts({
                certs: await gather.certs(kube, cfg.typha.enabled, outputs.cniClientCert, cfg.cni.delivery === "ssh"),
                now: new Date(),
                earlyRenewalHours: cfg.pki.earlyRenewalHours,
            }),
        ),
    );
    const typhaFacts = typhaPods.map((p) => {
        const node = p.spec?.nodeName ?? "";
        const hostRun = outcomes.find((x) => x.run.role === "host" && x.run.node === node);
        const entry = hostRun?.entries.find((e) => e.k === "typha");
        return {
            pod: p.metadata.name,
            node,
            felix: entry?.k === "typha" && entry.felix !== null ? entry.felix : undefined,
            error: hostRun?.error ?? (entry?.err || (entry ? undefined : "no host probe result on its node")),
        };
    });
    results.push(checkTypha({ enabled: cfg.typha.enabled, metricsPort: cfg.typha.metricsPort, replicas: typhaFacts, calicoNodePods }));
    if (o.perf) results.push(checkPerf({ probes: outcomes, perfPod, perfHost }));
    return results;
}
