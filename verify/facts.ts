/**
 * The facts the checks read, and the pure functions that turn Kubernetes objects into them. The
 * Kubernetes shapes are the few fields used, so tests can build them by hand (verify/kube.ts fetches them).
 */

export interface KCondition {
    type: string;
    status: string;
    reason?: string;
    message?: string;
}

export interface KContainerStatus {
    name: string;
    ready?: boolean;
    restartCount?: number;
    state?: {
        waiting?: { reason?: string; message?: string };
        running?: object;
        terminated?: { exitCode: number; reason?: string; message?: string };
    };
}

export interface KPod {
    metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
    spec?: { nodeName?: string; hostNetwork?: boolean };
    status?: {
        phase?: string;
        podIP?: string;
        podIPs?: { ip: string }[];
        message?: string;
        reason?: string;
        conditions?: KCondition[];
        containerStatuses?: KContainerStatus[];
        initContainerStatuses?: KContainerStatus[];
    };
}

export interface KEvent {
    involvedObject: { kind?: string; name?: string; namespace?: string };
    type?: string;
    reason?: string;
    message?: string;
    /** ISO time of the last occurrence (lastTimestamp, eventTime or the creation time). */
    time: string;
}

export interface KNode {
    metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
    status?: { addresses?: { type: string; address: string }[]; conditions?: KCondition[] };
}

/** calico-node writes the address it autodetected here (Kubernetes datastore), with its prefix. */
export const CALICO_IPV4_ANNOTATION = "projectcalico.org/IPv4Address";

export interface NodeFact {
    name: string;
    internalIp?: string;
    /** What autodetection chose, with its prefix (`172.30.0.11/24`); unset before calico-node ran there. */
    calicoAddress?: string;
    ready: boolean;
    /** The Ready condition's reason and message when it is not True. */
    notReady: string;
}

export function nodeFact(n: KNode): NodeFact {
    const ready = n.status?.conditions?.find((c) => c.type === "Ready");
    return {
        name: n.metadata.name,
        internalIp: n.status?.addresses?.find((a) => a.type === "InternalIP")?.address,
        calicoAddress: n.metadata.annotations?.[CALICO_IPV4_ANNOTATION],
        ready: ready?.status === "True",
        notReady: ready?.status === "True" ? "" : [ready?.reason, ready?.message].filter(Boolean).join(": ") || "no Ready condition",
    };
}

export interface PodFact {
    namespace: string;
    name: string;
    node?: string;
    phase: string;
    ready: boolean;
    hostNetwork: boolean;
    podIps: string[];
    /** Why it is not Ready (or did not run), from its status and its latest warning event; empty when Ready. */
    reason: string;
    /** The first container's termination message and exit code, once it has terminated. */
    terminated?: { exitCode: number; message: string };
}

function containerReason(cs: KContainerStatus): string | undefined {
    const w = cs.state?.waiting;
    if (w?.reason) return `${cs.name}: ${w.reason}${w.message ? `: ${w.message}` : ""}`;
    const t = cs.state?.terminated;
    if (t && t.exitCode !== 0) return `${cs.name}: exited ${t.exitCode}${t.reason ? ` (${t.reason})` : ""}`;
    return undefined;
}

/** A pod as the checks see it; `events` are any events, the pod's own are picked out. */
export function podFact(p: KPod, events: KEvent[] = []): PodFact {
    const st = p.status ?? {};
    const ready = st.conditions?.find((c) => c.type === "Ready")?.status === "True";
    const ips = st.podIPs?.map((x) => x.ip) ?? (st.podIP ? [st.podIP] : []);
    const own = events
        .filter(
            (e) =>
                e.involvedObject.name === p.metadata.name && (e.involvedObject.namespace ?? p.metadata.namespace) === p.metadata.namespace,
        )
        .filter((e) => e.type === "Warning")
        .sort((a, b) => a.time.localeCompare(b.time));
    const lastWarning = own.at(-1);
    const statuses = [...(st.initContainerStatuses ?? []), ...(st.containerStatuses ?? [])];
    // A failing probe shows as an Unhealthy event ("Readiness probe failed: ..."): the most telling reason.
    const reason = ready
        ? ""
        : lastWarning?.message
          ? `${lastWarning.reason ?? "Warning"}: ${lastWarning.message.trim()}`
          : (statuses.map(containerReason).find((r) => r !== undefined) ??
            (st.message ? `${st.reason ?? st.phase ?? "Pending"}: ${st.message}` : `${st.phase ?? "Pending"}, not Ready`));
    const t = st.containerStatuses?.[0]?.state?.terminated;
    return {
        namespace: p.metadata.namespace ?? "",
        name: p.metadata.name,
        node: p.spec?.nodeName,
        phase: st.phase ?? "Pending",
        ready,
        hostNetwork: p.spec?.hostNetwork === true,
        podIps: ips,
        reason,
        terminated: t ? { exitCode: t.exitCode, message: t.message ?? "" } : undefined,
    };
}

export interface BgpPeerFact {
    peerIP: string;
    type: string;
    state: string;
    since?: string;
}

/** One node's CalicoNodeStatus, as calico-node's status reporter filled it in; `reported` false when it never did. */
export interface NodeStatusFact {
    node: string;
    reported: boolean;
    birdState?: string;
    peers: BgpPeerFact[];
}

export interface PoolFact {
    name: string;
    cidr: string;
    disabled: boolean;
}

/** An IPAM block: its CIDR, the node it is affine to, and how many of its addresses are allocated. */
export interface BlockFact {
    cidr: string;
    node?: string;
    inUse: number;
}

export interface CertFact {
    /** What the certificate is, e.g. "Typha CA (ConfigMap kube-system/calico-typha-ca)". */
    name: string;
    notAfter?: Date;
    /** Why it could not be read. */
    error?: string;
}

/** A policy that may apply to the probe pods: Kubernetes ones are matched, Calico ones listed. */
export interface PolicyFact {
    kind: string;
    namespace?: string;
    name: string;
    /** True: its pod selector matches the probes (Kubernetes NetworkPolicy); undefined: not evaluated (a Calico selector). */
    selectsProbes?: boolean;
}
