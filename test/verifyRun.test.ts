import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { KNode, KPod } from "../verify/facts";
import type { Clock, KubeApi } from "../verify/kubeApi";
import { runChecks } from "../verify/run";
import type { CheckResult } from "../verify/types";
import { labRaw, resolvedConfig } from "./fixtures";

// A throwaway certificate, as the cluster's objects would hold it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-run-"));
execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-days", "365", "-subj", "/CN=t", "-keyout", `${dir}/k`, "-out", `${dir}/c`],
    { stdio: "ignore" },
);
const CERT = fs.readFileSync(`${dir}/c`, "utf8");

const NODE_IPS: Record<string, string> = { cka001: "172.16.0.11", cka002: "172.16.0.12", cka003: "172.16.0.13" };

interface Faults {
    /** Nodes whose CNI ADD fails (no conflist): pods there stay Pending. */
    noCni?: string[];
    /** Nodes whose calico-node is stopped: not Ready, no status report, no Typha connection. */
    calicoNodeDown?: string[];
    /** A NetworkPolicy in verify's namespace that selects every pod there. */
    denyAll?: boolean;
}

/**
 * A cluster as verify sees it through the API: Nodes, Calico's pods and objects, and a kubelet that
 * runs the probe pods by their TASKS (pings answer unless a fault is set) and reports as a kubelet does.
 */
class FakeCluster implements KubeApi {
    context = "fake";
    pods_ = new Map<string, KPod>();
    custom = new Map<string, Record<string, unknown>>();
    created: string[] = [];
    namespaces = new Set(["kube-system"]);
    deletedNamespaces: string[] = [];
    private ip = 10;
    constructor(private readonly f: Faults = {}) {
        for (const n of Object.keys(NODE_IPS)) {
            const down = f.calicoNodeDown?.includes(n);
            this.put({
                metadata: { name: `calico-node-${n}`, namespace: "kube-system", labels: { "k8s-app": "calico-node" } },
                spec: { nodeName: n, hostNetwork: true },
                status: {
                    phase: "Running",
                    conditions: [{ type: "Ready", status: down ? "False" : "True" }],
                    containerStatuses: [{ name: "calico-node", ready: !down, state: { running: {} } }],
                },
            });
        }
        this.put({
            metadata: { name: "calico-typha-a", namespace: "kube-system", labels: { "k8s-app": "calico-typha" } },
            spec: { nodeName: "cka001", hostNetwork: true },
            status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
        });
    }
    private put(p: KPod) {
        this.pods_.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
    }
    private up = (n: string) => !this.f.calicoNodeDown?.includes(n);
    async nodes(): Promise<KNode[]> {
        return Object.entries(NODE_IPS).map(([name, ip]) => ({
            metadata: { name, annotations: { "projectcalico.org/IPv4Address": `${ip}/24` } },
            status: { addresses: [{ type: "InternalIP", address: ip }], conditions: [{ type: "Ready", status: "True" }] },
        }));
    }
    async pods(namespace: string | undefined, labelSelector?: string): Promise<KPod[]> {
        this.kubelet();
        const want = (labelSelector ?? "")
            .split(",")
            .filter((s) => s !== "")
            .map((s) => s.split("="));
        return [...this.pods_.values()].filter(
            (p) => (namespace === undefined || p.metadata.namespace === namespace) && want.every(([k, v]) => p.metadata.labels?.[k!] === v),
        );
    }
    async events() {
        return [];
    }
    async configMapKey() {
        return CERT;
    }
    async secretKey() {
        return CERT;
    }
    async listCluster(_g: string, _v: string, plural: string): Promise<Record<string, unknown>[]> {
        if (plural === "ippools") {
            return [
                { metadata: { name: "ipv4-ippool-1" }, spec: { cidr: "10.244.0.0/18" } },
                { metadata: { name: "ipv4-ippool-2" }, spec: { cidr: "10.244.192.0/19", disabled: true } },
            ];
        }
        if (plural === "ipamblocks")
            return Object.keys(NODE_IPS).map((n, i) => ({
                spec: { cidr: `10.244.${i}.0/26`, affinity: `host:${n}`, allocations: [0, null, 1] },
            }));
        if (plural === "caliconodestatuses") {
            return [...this.custom.values()].map((o) => {
                const node = (o.spec as { node: string }).node;
                if (!this.up(node)) return o;
                const peers = Object.entries(NODE_IPS)
                    .filter(([n]) => n !== node)
                    .map(([n, ip]) => ({ peerIP: ip, type: "NodeMesh", state: this.up(n) ? "Established" : "Active" }));
                return {
                    ...o,
                    status: { lastUpdated: "2026-01-01T00:00:00Z", agent: { birdV4: { state: "Ready" } }, bgp: { peersV4: peers } },
                };
            });
        }
        return [];
    }
    async listNamespaced() {
        return [];
    }
    async createCluster(_g: string, _v: string, plural: string, body: object) {
        const name = (body as { metadata: { name: string } }).metadata.name;
        this.custom.set(`${plural}/${name}`, body as Record<string, unknown>);
    }
    async deleteCluster(_g: string, _v: string, plural: string, name: string) {
        this.custom.delete(`${plural}/${name}`);
    }
    async networkPolicies(namespace: string) {
        return this.f.denyAll ? [{ metadata: { name: "deny-all", namespace }, spec: { podSelector: {}, policyTypes: ["Ingress"] } }] : [];
    }
    async ensureNamespace(name: string) {
        const created = !this.namespaces.has(name);
        this.namespaces.add(name);
        return created;
    }
    async deleteNamespace(name: string) {
        this.namespaces.delete(name);
        this.deletedNamespaces.push(name);
    }
    async createPod(namespace: string, body: object) {
        const p = body as KPod & {
            spec: { nodeName: string; hostNetwork: boolean; containers: { env: { name: string; value: string }[] }[] };
        };
        this.created.push(p.metadata.name);
        this.put({ ...p, metadata: { ...p.metadata, namespace } });
    }
    async deletePods(namespace: string, labelSelector: string) {
        for (const p of await this.pods(namespace, labelSelector)) this.pods_.delete(`${namespace}/${p.metadata.name}`);
    }

    /** Runs each new pod of verify's namespace once: targets get an address, probes answer by their TASKS. */
    private kubelet() {
        for (const p of this.pods_.values()) {
            if (p.metadata.namespace !== "calico-verify" || p.status) continue;
            const spec = p.spec as { nodeName: string; hostNetwork: boolean; containers: { env: { name: string; value: string }[] }[] };
            const node = spec.nodeName;
            if (this.f.noCni?.includes(node) && !spec.hostNetwork) {
                p.status = { phase: "Pending", reason: "SandboxKubelet", message: "network: no conflist in /etc/cni/net.d" };
                continue;
            }
            if (!this.up(node) && !spec.hostNetwork) {
                p.status = { phase: "Pending", reason: "SandboxKubelet", message: "network: calico-node is not running on this node" };
                continue;
            }
            const ip = spec.hostNetwork ? NODE_IPS[node]! : `10.244.${Object.keys(NODE_IPS).indexOf(node)}.${this.ip++}`;
            const role = p.metadata.labels?.["calico-verify/role"];
            if (role === "target" || role === "host-target") {
                p.status = { phase: "Running", podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] };
                continue;
            }
            const env = Object.fromEntries(spec.containers[0]!.env.map((e) => [e.name, e.value]));
            const podIps = new Set(
                [...this.pods_.values()]
                    .filter((x) => x.metadata.labels?.["calico-verify/role"] === "target")
                    .flatMap((x) => x.status?.podIPs?.map((i) => i.ip) ?? []),
            );
            const entries = env
                .TASKS!.split(" ")
                .filter((t) => t !== "")
                .map((t) => {
                    const [k, to, dest] = t.split(",") as [string, string, string];
                    const pod = podIps.has(dest);
                    const lost = pod && this.f.denyAll;
                    if (k === "ping") return { k, to, ip: dest, tx: 5, rx: lost ? 0 : 5, ms: pod ? 0.3 : 0.1, err: "" };
                    if (k === "df") return { k, to, ip: dest, size: Number(env.MTU), tx: 3, rx: lost ? 0 : 3, err: "" };
                    if (k === "iperf") return { k, to, ip: dest, mbps: pod ? 900 : 1000, err: "" };
                    if (k === "http") return { k, to, ip: dest, n: 200, s: pod ? 0.5 : 0.4, err: "" };
                    return { k, to, ip: dest, felix: Object.keys(NODE_IPS).filter(this.up).length, err: "" };
                });
            p.status = {
                phase: "Succeeded",
                podIPs: [{ ip }],
                containerStatuses: [
                    { name: "probe", state: { terminated: { exitCode: 0, message: JSON.stringify({ v: 1, r: entries }) } } },
                ],
            };
        }
    }
}

/** Time passes only when verify waits. */
function fakeClock(): Clock {
    let t = 0;
    return { now: () => t, sleep: async (ms) => void (t += ms) };
}

const cfg = resolvedConfig({ ...labRaw(), verify: { timeoutSeconds: 30 } });
const outputs = { cniClientCert: CERT };

async function verify(cluster: FakeCluster, perf = false): Promise<Record<string, CheckResult>> {
    const results = await runChecks(cfg, outputs, cluster, { perf, log: () => undefined, onCleanup: () => undefined, clock: fakeClock() });
    return Object.fromEntries(results.map((r) => [r.name, r]));
}

describe("verify against a cluster (stand-in API and kubelet)", () => {
    test("healthy: every check passes, and nothing verify made is left", async () => {
        const c = new FakeCluster();
        const r = await verify(c, true);
        expect(Object.keys(r)).toEqual([
            "calico-node",
            "BGP",
            "Node addresses",
            "IPAM",
            "Data path",
            "Certificates",
            "Typha",
            "Performance",
        ]);
        expect(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.status]))).toEqual({
            "calico-node": "pass",
            BGP: "pass",
            "Node addresses": "pass",
            IPAM: "pass",
            "Data path": "pass",
            Certificates: "pass",
            Typha: "pass",
            Performance: "pass",
        });
        expect(r["Data path"]!.figures).toBe("pod-to-pod 6/6 pairs 0% loss, node-to-pod 6/6, DF 1500 bytes 3/3 (3 nodes)");
        expect(r.Typha!.figures).toBe("3 Felix connections for 3 calico-node pods (calico-typha-a=3)");
        expect(r.Performance!.figures).toBe(
            "RTT pod/node 0.300/0.100 ms = 3.00x; iperf3 pod/node 900/1000 Mbit/s = 0.90x; HTTP pod/node 400/500 req/s = 0.80x",
        );
        // Targets first (the probes need their addresses), then the probes, then --perf's pair.
        expect(c.created).toEqual([
            ...["cka001", "cka002", "cka003"].map((n) => `calico-verify-target-${n}`),
            ...["cka001", "cka002", "cka003"].map((n) => `calico-verify-probe-${n}`),
            ...["cka001", "cka002", "cka003"].map((n) => `calico-verify-host-${n}`),
            "calico-verify-host-target-cka002",
            "calico-verify-perf-pod-cka001",
            "calico-verify-perf-host-cka001",
        ]);
        expect([...c.pods_.keys()].filter((k) => k.startsWith("calico-verify/"))).toEqual([]);
        expect([...c.custom.keys()]).toEqual([]);
        expect(c.deletedNamespaces).toEqual(["calico-verify"]);
    });

    test("a node without its conflist: the data path fails, naming the node and the CNI error", async () => {
        const r = await verify(new FakeCluster({ noCni: ["cka002"] }));
        expect(r["Data path"]!.status).toBe("fail");
        expect(r["Data path"]!.details).toEqual([
            "cka002: target pod calico-verify-target-cka002 did not start within 30s: SandboxKubelet: network: no conflist in /etc/cni/net.d",
        ]);
        // The others still ping each other, and every node (cka002's host probe too) pings the pods that started.
        expect(r["Data path"]!.figures).toBe("pod-to-pod 2/2 pairs 0% loss, node-to-pod 4/4, DF 1500 bytes 2/2 (3 nodes)");
        expect(r["Data path"]!.fix).toContain("a CNI error means the node's CNI files are missing or broken");
        expect(r["calico-node"]!.status).toBe("pass");
    });

    test("a node whose calico-node is stopped: calico-node, BGP and Typha fail, each naming it", async () => {
        const r = await verify(new FakeCluster({ calicoNodeDown: ["cka003"] }));
        expect(r["calico-node"]!.details).toEqual(["cka003: calico-node-cka003 not Ready: Running, not Ready"]);
        expect(r.BGP!.details).toEqual([
            "cka001 -> 172.16.0.13 (NodeMesh): Active",
            "cka002 -> 172.16.0.13 (NodeMesh): Active",
            "cka003: no CalicoNodeStatus report within 30s (calico-node's status reporter is not running there)",
        ]);
        expect(r.Typha!.details).toEqual(["Typha serves 2 Felix connections, 3 calico-node pods run"]);
        expect(r["Data path"]!.status).toBe("fail");
    });

    test("a NetworkPolicy that blocks the probes: the data path fails and names it", async () => {
        const c = new FakeCluster({ denyAll: true });
        c.namespaces.add("calico-verify");
        const r = await verify(c);
        expect(r["Data path"]!.status).toBe("fail");
        expect(r["Data path"]!.details.at(-1)).toBe("NetworkPolicy calico-verify/deny-all selects the probe pods");
        expect(r["Data path"]!.fix).toContain("a policy above blocks the probes");
        // The namespace was there before verify: it stays.
        expect(c.deletedNamespaces).toEqual([]);
    });
});
