import { HTTP_PORT, IPERF_PORT, PROBE_SCRIPT, TARGET_SCRIPT } from "./probeScript";

/**
 * The probe pods of one verify run, as plain manifests (verify/kube.ts creates them). Per sampled node:
 * a target (pod network: what the others ping), a probe (pod network: pings every other node's target,
 * and a don't-fragment ping at the pod MTU to the next one) and a host probe (host network: node-to-pod
 * pings, and Typha's Felix count where a Typha runs). With --perf, after those: one pod-network and one
 * host-network client on the first node against a target of each kind on the second.
 */

export const APP_LABEL = "app.kubernetes.io/name";
export const APP = "calico-verify";
export const ROLE_LABEL = "calico-verify/role";
export const RUN_LABEL = "calico-verify/run";

export type Role = "target" | "probe" | "host" | "host-target" | "perf-pod" | "perf-host";

const HOST_NETWORK: Record<Role, boolean> = {
    target: false,
    probe: false,
    host: true,
    "host-target": true,
    "perf-pod": false,
    "perf-host": true,
};

export interface ProbeSettings {
    namespace: string;
    image: string;
    /** Pod MTU (the conflist's): the don't-fragment ping sends exactly this many bytes. */
    mtu: number;
    perf: boolean;
    pings: number;
    perfSeconds: number;
    httpRequests: number;
    /** Upper bound on any pod's life, in seconds, should verify itself be killed. */
    lifetimeSeconds: number;
    runId: string;
}

export interface SampledNode {
    name: string;
    internalIp: string;
}

/** A task of a probe: `kind,name,address` (the script's TASKS word). */
export type Task = { kind: "ping" | "df" | "iperf" | "http"; to: string; ip: string } | { kind: "typha"; port: number };

export function taskWord(t: Task): string {
    return t.kind === "typha" ? `typha,typha,${t.port}` : `${t.kind},${t.to},${t.ip}`;
}

export function podName(role: Role, node: string): string {
    return `${APP}-${role}-${node}`;
}

/** Up to `max` nodes, spread over the list sorted by name (every node when there are no more): named, never positional in config. */
export function sampleNodes<T extends { name: string }>(nodes: T[], max: number): T[] {
    const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
    if (sorted.length <= max) return sorted;
    const step = sorted.length / max;
    return Array.from({ length: max }, (_, i) => sorted[Math.floor(i * step)]!);
}

/** The connectivity tasks once the targets have addresses: each probe pings every other node's target; the host probes too. */
export function connectivityTasks(
    sampled: SampledNode[],
    targetIps: Record<string, string>,
    perf: boolean,
): { probe: Record<string, Task[]>; host: Record<string, Task[]> } {
    const probe: Record<string, Task[]> = {};
    const host: Record<string, Task[]> = {};
    sampled.forEach((n, i) => {
        const others = sampled.filter((o) => o.name !== n.name && targetIps[o.name] !== undefined);
        probe[n.name] = others.map((o): Task => ({ kind: "ping", to: o.name, ip: targetIps[o.name]! }));
        // The next node along that has a target: a don't-fragment ping per probe, whichever targets started.
        const next = [...sampled.slice(i + 1), ...sampled.slice(0, i)].find((o) => targetIps[o.name] !== undefined);
        if (next) probe[n.name]!.push({ kind: "df", to: next.name, ip: targetIps[next.name]! });
        host[n.name] = [
            ...others.map((o): Task => ({ kind: "ping", to: o.name, ip: targetIps[o.name]! })),
            // Node-to-node pings: the baseline of --perf's RTT ratio.
            ...(perf ? others.map((o): Task => ({ kind: "ping", to: `node:${o.name}`, ip: o.internalIp })) : []),
        ];
    });
    return { probe, host };
}

export interface PodManifest {
    apiVersion: "v1";
    kind: "Pod";
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: Record<string, unknown>;
}

/** One probe pod: pinned to its node by name, tolerating every taint, never restarted, results in the termination message. */
export function probePod(s: ProbeSettings, role: Role, node: string, tasks: Task[] = []): PodManifest {
    const server = role === "target" || role === "host-target";
    const env: Record<string, string> = {
        HTTP_PORT: String(HTTP_PORT),
        HTTP_REQUESTS: String(s.httpRequests),
        IPERF_PORT: String(IPERF_PORT),
        LIFETIME: String(s.lifetimeSeconds),
        MTU: String(s.mtu),
        PERF: s.perf ? "1" : "0",
        PERF_SECONDS: String(s.perfSeconds),
        PINGS: String(s.pings),
        TASKS: tasks.map(taskWord).join(" "),
    };
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
            name: podName(role, node),
            namespace: s.namespace,
            labels: { [APP_LABEL]: APP, [ROLE_LABEL]: role, [RUN_LABEL]: s.runId },
        },
        spec: {
            nodeName: node,
            hostNetwork: HOST_NETWORK[role],
            restartPolicy: "Never",
            terminationGracePeriodSeconds: 1,
            activeDeadlineSeconds: s.lifetimeSeconds,
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            tolerations: [{ operator: "Exists" }],
            containers: [
                {
                    name: "probe",
                    image: s.image,
                    imagePullPolicy: "IfNotPresent",
                    command: ["sh", "-c", server ? TARGET_SCRIPT : PROBE_SCRIPT],
                    env: Object.entries(env).map(([name, value]) => ({ name, value })),
                    terminationMessagePath: "/dev/termination-log",
                    // A script that dies before writing its JSON still tells why, from its log.
                    terminationMessagePolicy: "FallbackToLogsOnError",
                    securityContext: { capabilities: { add: ["NET_RAW"] } },
                    resources: { requests: { cpu: "10m", memory: "16Mi" } },
                },
            ],
        },
    };
}
