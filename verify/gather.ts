import * as crypto from "crypto";
import { CALICO_CRD_GROUP, CALICO_NODE, KUBE_SYSTEM, TYPHA } from "../components/facts/names";
import { NODE_CERTS, TYPHA_CA, TYPHA_CERTS } from "../components/builders/pod";
import type { BlockFact, CertFact, NodeStatusFact, PolicyFact, PoolFact } from "./facts";
import { type Clock, type KubeApi, errorText } from "./kubeApi";

/** Reads the facts that need no probe pod: IPAM objects, certificates, policies. */

const V1 = "v1";

export async function pools(kube: KubeApi): Promise<PoolFact[]> {
    return (await kube.listCluster(CALICO_CRD_GROUP, V1, "ippools")).map((p) => {
        const spec = (p.spec ?? {}) as { cidr?: string; disabled?: boolean };
        return { name: String((p.metadata as { name?: string })?.name), cidr: spec.cidr ?? "", disabled: spec.disabled === true };
    });
}

export async function blocks(kube: KubeApi): Promise<BlockFact[]> {
    return (await kube.listCluster(CALICO_CRD_GROUP, V1, "ipamblocks")).map((b) => {
        const spec = (b.spec ?? {}) as { cidr?: string; affinity?: string; allocations?: (number | null)[] };
        const node = spec.affinity?.startsWith("host:") ? spec.affinity.slice("host:".length) : undefined;
        return { cidr: spec.cidr ?? "", node, inUse: (spec.allocations ?? []).filter((a) => a !== null).length };
    });
}

function notAfter(name: string, pem: string | undefined): CertFact {
    if (!pem) return { name, error: "empty" };
    try {
        return { name, notAfter: new Date(new crypto.X509Certificate(pem).validTo) };
    } catch (e) {
        return { name, error: `not a PEM certificate (${errorText(e)})` };
    }
}

/** The Typha CA and server cert, the node client cert (from the objects the program created) and the CNI client cert (a stack output). */
/** `cniCert` false: no CNI certificate to check (`cni.delivery: daemonset` uses a token calico-node renews). */
export async function certs(kube: KubeApi, typha: boolean, cniCertPem: unknown, cniCert = true): Promise<CertFact[]> {
    const out: CertFact[] = [];
    const read = async (name: string, f: () => Promise<string | undefined>) => {
        try {
            out.push(notAfter(name, await f()));
        } catch (e) {
            out.push({ name, error: errorText(e) });
        }
    };
    if (typha) {
        await read(`Typha CA (ConfigMap ${KUBE_SYSTEM}/${TYPHA_CA.object})`, () =>
            kube.configMapKey(KUBE_SYSTEM, TYPHA_CA.object, TYPHA_CA.files.ca),
        );
        await read(`Typha server (Secret ${KUBE_SYSTEM}/${TYPHA_CERTS.object})`, () =>
            kube.secretKey(KUBE_SYSTEM, TYPHA_CERTS.object, TYPHA_CERTS.files.cert),
        );
        await read(`node client (Secret ${KUBE_SYSTEM}/${NODE_CERTS.object})`, () =>
            kube.secretKey(KUBE_SYSTEM, NODE_CERTS.object, NODE_CERTS.files.cert),
        );
    }
    if (!cniCert) return out;
    out.push(
        typeof cniCertPem === "string" && cniCertPem.includes("BEGIN CERTIFICATE")
            ? notAfter("CNI client (stack output cniClientCert)", cniCertPem)
            : {
                  name: "CNI client (stack output cniClientCert)",
                  error: "no cniClientCert output; run `pulumi up` with this version of the program",
              },
    );
    return out;
}

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

/** Kubernetes label selector semantics, for a NetworkPolicy's podSelector. */
export function selects(sel: Selector | undefined, labels: Record<string, string>): boolean {
    if (!sel) return true;
    for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of sel.matchExpressions ?? []) {
        const has = e.key in labels;
        const inValues = has && (e.values ?? []).includes(labels[e.key]!);
        if (e.operator === "In" && !inValues) return false;
        if (e.operator === "NotIn" && inValues) return false;
        if (e.operator === "Exists" && !has) return false;
        if (e.operator === "DoesNotExist" && has) return false;
    }
    return true;
}

/** Policies that could stop the probes: Kubernetes ones in their namespace (matched), Calico ones (listed). */
export async function policies(kube: KubeApi, namespace: string, probeLabels: Record<string, string>[]): Promise<PolicyFact[]> {
    const out: PolicyFact[] = [];
    for (const p of await kube.networkPolicies(namespace)) {
        out.push({
            kind: "NetworkPolicy",
            namespace,
            name: p.metadata?.name ?? "",
            selectsProbes: probeLabels.some((l) => selects(p.spec?.podSelector, l)),
        });
    }
    const tryList = async (kind: string, f: () => Promise<Record<string, unknown>[]>, ns?: string) => {
        try {
            for (const p of await f()) out.push({ kind, namespace: ns, name: String((p.metadata as { name?: string })?.name) });
        } catch {
            // No Calico policy API (etcd datastore): nothing to list.
        }
    };
    await tryList("Calico NetworkPolicy", () => kube.listNamespaced(CALICO_CRD_GROUP, V1, namespace, "networkpolicies"), namespace);
    await tryList("Calico GlobalNetworkPolicy", () => kube.listCluster(CALICO_CRD_GROUP, V1, "globalnetworkpolicies"));
    return out;
}

export const STATUS_PREFIX = "calico-verify-";

interface StatusBody {
    lastUpdated?: string;
    agent?: { birdV4?: { state?: string } };
    bgp?: { peersV4?: { peerIP?: string; type?: string; state?: string; since?: string }[] };
}

/** CalicoNodeStatus per node, created for the check, read until each reports (or the time is up), always deleted. */
export async function nodeStatuses(
    kube: KubeApi,
    clock: Clock,
    nodes: string[],
    timeoutMs: number,
    onCreated: (names: string[]) => void,
): Promise<NodeStatusFact[]> {
    const name = (n: string) => `${STATUS_PREFIX}${n}`;
    const created: string[] = [];
    try {
        for (const n of nodes) {
            await kube.deleteCluster(CALICO_CRD_GROUP, V1, "caliconodestatuses", name(n));
            await kube.createCluster(CALICO_CRD_GROUP, V1, "caliconodestatuses", {
                apiVersion: `${CALICO_CRD_GROUP}/${V1}`,
                kind: "CalicoNodeStatus",
                metadata: { name: name(n), labels: { "app.kubernetes.io/name": "calico-verify" } },
                spec: { node: n, classes: ["Agent", "BGP"], updatePeriodSeconds: 2 },
            });
            created.push(name(n));
            onCreated([...created]);
        }
        const facts = new Map<string, NodeStatusFact>();
        const wanted = new Set(created);
        const deadline = clock.now() + timeoutMs;
        // One list a second, not one read per node: large clusters have many.
        while (facts.size < nodes.length && clock.now() < deadline) {
            for (const item of await kube.listCluster(CALICO_CRD_GROUP, V1, "caliconodestatuses")) {
                const meta = item.metadata as { name?: string };
                const spec = item.spec as { node?: string };
                const s = item.status as StatusBody | undefined;
                if (!wanted.has(meta?.name ?? "") || !spec?.node || !s?.lastUpdated) continue;
                facts.set(spec.node, {
                    node: spec.node,
                    reported: true,
                    birdState: s.agent?.birdV4?.state,
                    peers: (s.bgp?.peersV4 ?? []).map((p) => ({
                        peerIP: p.peerIP ?? "",
                        type: p.type ?? "",
                        state: p.state ?? "",
                        since: p.since,
                    })),
                });
            }
            if (facts.size < nodes.length) await clock.sleep(1000);
        }
        return nodes.map((n) => facts.get(n) ?? { node: n, reported: false, peers: [] });
    } finally {
        for (const c of created) await kube.deleteCluster(CALICO_CRD_GROUP, V1, "caliconodestatuses", c).catch(() => undefined);
    }
}

export const CALICO_NODE_SELECTOR = `k8s-app=${CALICO_NODE}`;
export const TYPHA_SELECTOR = `k8s-app=${TYPHA}`;
