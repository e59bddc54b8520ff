import { checkAddresses } from "../verify/checks/addresses";
import { checkBgp } from "../verify/checks/bgp";
import { checkCalicoNode } from "../verify/checks/calicoNode";
import { checkCerts } from "../verify/checks/certs";
import { checkIpam } from "../verify/checks/ipam";
import { checkTypha } from "../verify/checks/typha";
import { type KPod, type NodeFact, type PodFact, nodeFact, podFact } from "../verify/facts";
import type { PoolConfig } from "../components/config/schema";
import type { AutodetectMethod } from "../components/config/autodetect";

const node = (name: string, ip: string, calico: string | undefined = `${ip}/24`, ready = true): NodeFact => ({
    name,
    internalIp: ip,
    calicoAddress: calico,
    ready,
    notReady: ready ? "" : "KubeletNotReady: container runtime network not ready: cni plugin not initialized",
});
const NODES = [node("n1", "172.30.0.11"), node("n2", "172.30.0.12"), node("n3", "172.30.0.13")];
const pod = (name: string, nodeName: string, over: Partial<PodFact> = {}): PodFact => ({
    namespace: "kube-system",
    name,
    node: nodeName,
    phase: "Running",
    ready: true,
    hostNetwork: true,
    podIps: [],
    reason: "",
    ...over,
});
const CN_PODS = NODES.map((n) => pod(`calico-node-${n.name}`, n.name));

describe("Kubernetes objects to facts", () => {
    test("a pod not Ready takes its reason from its latest warning event, else from its containers", () => {
        const p: KPod = {
            metadata: { name: "calico-node-x", namespace: "kube-system" },
            spec: { nodeName: "n2", hostNetwork: true },
            status: {
                phase: "Running",
                conditions: [{ type: "Ready", status: "False" }],
                containerStatuses: [{ name: "calico-node", ready: false, state: { running: {} } }],
            },
        };
        const events = [
            {
                involvedObject: { name: "calico-node-x", namespace: "kube-system" },
                type: "Warning",
                reason: "Unhealthy",
                message: "old",
                time: "2026-01-01T00:00:00Z",
            },
            {
                involvedObject: { name: "calico-node-x", namespace: "kube-system" },
                type: "Warning",
                reason: "Unhealthy",
                message: "Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established with 172.30.0.11\n",
                time: "2026-01-01T00:01:00Z",
            },
            {
                involvedObject: { name: "other", namespace: "kube-system" },
                type: "Warning",
                reason: "Unhealthy",
                message: "no",
                time: "2026-01-01T00:02:00Z",
            },
        ];
        expect(podFact(p, events).reason).toBe(
            "Unhealthy: Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established with 172.30.0.11",
        );
        const waiting: KPod = {
            ...p,
            status: {
                phase: "Pending",
                containerStatuses: [
                    { name: "probe", state: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } } },
                ],
            },
        };
        expect(podFact(waiting).reason).toBe("probe: ImagePullBackOff: Back-off pulling image");
        const sbx: KPod = {
            ...p,
            status: { phase: "Pending", reason: "SandboxKubelet", message: "network: no conflist in /etc/cni/net.d" },
        };
        expect(podFact(sbx).reason).toBe("SandboxKubelet: network: no conflist in /etc/cni/net.d");
    });

    test("a terminated probe carries its exit code and termination message", () => {
        const p: KPod = {
            metadata: { name: "calico-verify-probe-n1", namespace: "calico-verify" },
            status: {
                phase: "Succeeded",
                podIPs: [{ ip: "10.244.0.5" }],
                containerStatuses: [{ name: "probe", state: { terminated: { exitCode: 0, message: '{"v":1,"r":[]}' } } }],
            },
        };
        expect(podFact(p)).toMatchObject({
            phase: "Succeeded",
            podIps: ["10.244.0.5"],
            terminated: { exitCode: 0, message: '{"v":1,"r":[]}' },
        });
    });

    test("a node's InternalIP, Calico address and Ready condition", () => {
        expect(
            nodeFact({
                metadata: { name: "n1", annotations: { "projectcalico.org/IPv4Address": "172.30.0.11/24" } },
                status: {
                    addresses: [
                        { type: "Hostname", address: "n1" },
                        { type: "InternalIP", address: "172.30.0.11" },
                    ],
                    conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady", message: "cni plugin not initialized" }],
                },
            }),
        ).toEqual({
            name: "n1",
            internalIp: "172.30.0.11",
            calicoAddress: "172.30.0.11/24",
            ready: false,
            notReady: "KubeletNotReady: cni plugin not initialized",
        });
    });
});

describe("calico-node", () => {
    const names = NODES.map((n) => n.name);
    test.each([
        ["healthy", NODES, CN_PODS, names, "pass", []],
        [
            "one calico-node not Ready, with the probe's reason",
            NODES,
            [
                CN_PODS[0]!,
                pod("calico-node-n2", "n2", { ready: false, reason: "Unhealthy: Readiness probe failed: BIRD is not ready" }),
                CN_PODS[2]!,
            ],
            names,
            "fail",
            ["n2: calico-node-n2 not Ready: Unhealthy: Readiness probe failed: BIRD is not ready"],
        ],
        [
            "a node without a calico-node pod",
            NODES,
            CN_PODS.slice(0, 2),
            names,
            "fail",
            ["n3: no calico-node pod (the DaemonSet has not placed one there; check the node's taints)"],
        ],
        [
            "a node whose network plugin is not ready (no conflist)",
            [NODES[0]!, node("n2", "172.30.0.12", undefined, false), NODES[2]!],
            CN_PODS,
            names,
            "fail",
            ["n2: Node not Ready: KubeletNotReady: container runtime network not ready: cni plugin not initialized"],
        ],
        [
            "config and cluster disagree on the nodes",
            NODES,
            CN_PODS,
            ["n1", "n2", "n9"],
            "warn",
            [
                "nodes[n9]: in calico:nodes but not a Kubernetes Node",
                "n3: a Kubernetes Node missing from calico:nodes, so this stack delivers no CNI files to it",
            ],
        ],
    ] as const)("%s", (_n, nodes, pods, configNodes, status, details) => {
        const r = checkCalicoNode({ nodes: [...nodes], pods: [...pods], configNodes: [...configNodes] });
        expect(r.status).toBe(status);
        expect(r.details).toEqual(details);
        expect(r.fix === "").toBe(status === "pass");
    });
});

describe("BGP", () => {
    const peer = (ip: string, state = "Established") => ({ peerIP: ip, type: "NodeMesh", state, since: "10:00:00" });
    const healthy = [
        { node: "n1", reported: true, birdState: "Ready", peers: [peer("172.30.0.12"), peer("172.30.0.13")] },
        { node: "n2", reported: true, birdState: "Ready", peers: [peer("172.30.0.11"), peer("172.30.0.13")] },
        { node: "n3", reported: true, birdState: "Ready", peers: [peer("172.30.0.11"), peer("172.30.0.12")] },
    ];
    const base = { backend: "bird" as const, datastore: "kubernetes" as const, fullMesh: true, nodes: NODES, waitedSeconds: 60 };
    test.each([
        ["full mesh Established", healthy, "pass", "6/6 sessions Established on 3/3 nodes", []],
        [
            "a session in Active, a node that never reported, a missing mesh peer",
            [{ ...healthy[0]!, peers: [peer("172.30.0.12", "Active")] }, { node: "n2", reported: false, peers: [] }, healthy[2]!],
            "fail",
            "2/3 sessions Established on 2/3 nodes",
            [
                "n1 -> 172.30.0.12 (NodeMesh): Active since 10:00:00",
                "n1 -> 172.30.0.13 (n3): no session (full mesh)",
                "n2: no CalicoNodeStatus report within 60s (calico-node's status reporter is not running there)",
            ],
        ],
        [
            // As the sandbox showed with a peer's calico-node stopped: the session is listed with an empty state.
            "a session Calico reports with no state",
            [{ ...healthy[0]!, peers: [peer("172.30.0.12"), peer("172.30.0.13", "")] }, healthy[1]!, healthy[2]!],
            "fail",
            "5/6 sessions Established on 3/3 nodes",
            ["n1 -> 172.30.0.13 (NodeMesh): not Established (Calico reports no state) since 10:00:00"],
        ],
        [
            "BIRD not ready",
            [{ ...healthy[0]!, birdState: "NotReady" }, healthy[1]!, healthy[2]!],
            "fail",
            "6/6 sessions Established on 3/3 nodes",
            ["n1: BIRD is NotReady"],
        ],
    ] as const)("%s", (_n, statuses, status, figures, details) => {
        const r = checkBgp({ ...base, statuses: statuses.map((s) => ({ ...s, peers: [...s.peers] })) });
        expect([r.status, r.figures, r.details]).toEqual([status, figures, details]);
    });

    test("skipped without BIRD or on etcd; without the full mesh, missing peers are not guessed", () => {
        expect(checkBgp({ ...base, backend: "vxlan", statuses: [] })).toMatchObject({
            status: "skip",
            figures: "calicoNode.backend is vxlan: no BGP",
        });
        expect(checkBgp({ ...base, datastore: "etcd", statuses: [] }).status).toBe("skip");
        const rr = [{ node: "n1", reported: true, birdState: "Ready", peers: [peer("172.30.0.12")] }];
        expect(checkBgp({ ...base, fullMesh: false, statuses: rr }).status).toBe("pass");
    });
});

describe("Node addresses", () => {
    const ff = { kind: "first-found" as const };
    test.each([
        ["each node's InternalIP", NODES, ff, "first-found", undefined, "pass", []],
        [
            "a duplicate and a mismatch (the docker bridge picked twice)",
            [node("n1", "172.30.0.11", "172.17.0.1/16"), node("n2", "172.30.0.12", "172.17.0.1/16"), NODES[2]!],
            ff,
            "first-found",
            undefined,
            "fail",
            [
                "172.17.0.1: chosen on 2 nodes (n1, n2); every node needs its own",
                "n1: Calico chose 172.17.0.1/16, its InternalIP is 172.30.0.11",
                "n2: Calico chose 172.17.0.1/16, its InternalIP is 172.30.0.12",
            ],
        ],
        [
            "not the InternalIP, but inside the configured cidr=",
            [node("n1", "172.30.0.11", "192.168.7.11/24"), node("n2", "172.30.0.12", "192.168.7.12/24")],
            { kind: "cidr" as const, cidrs: ["192.168.7.0/24"] },
            "cidr=192.168.7.0/24",
            undefined,
            "pass",
            [],
        ],
        [
            "on the network of the can-reach target",
            [node("n1", "172.30.0.11", "192.168.7.11/24")],
            { kind: "can-reach" as const, destination: "192.168.7.1" },
            "can-reach=192.168.7.1",
            "192.168.7.1",
            "pass",
            [],
        ],
        [
            "no address yet",
            [{ ...node("n1", "172.30.0.11"), calicoAddress: undefined }],
            ff,
            "first-found",
            undefined,
            "fail",
            ["n1: no projectcalico.org/IPv4Address annotation (calico-node has not autodetected an address there)"],
        ],
    ] as const)("%s", (_n, nodes, method, methodText, canReachIp, status, details) => {
        const r = checkAddresses({ nodes: [...nodes], method: method as AutodetectMethod, methodText, canReachIp });
        expect([r.status, r.details]).toEqual([status, details]);
    });

    test("the fix suggests a method that picks the InternalIP interface", () => {
        const r = checkAddresses({
            nodes: [node("n1", "172.30.0.11", "10.0.2.15/24"), NODES[1]!],
            method: { kind: "first-found" },
            methodText: "first-found",
        });
        expect(r.fix).toBe(
            "set calicoNode.ipAutodetectionMethod: kubernetes-internal-ip (picks each node's InternalIP), or calicoNode.ipAutodetectionMethod: cidr=172.30.0.8/29 (holds every InternalIP), then `pulumi up`; calico-node re-detects on restart.",
        );
    });
});

describe("IPAM", () => {
    const pools = [
        { name: "ipv4-ippool-1", cidr: "10.244.0.0/18", disabled: false },
        { name: "ipv4-ippool-2", cidr: "10.244.192.0/19", disabled: true },
    ];
    const configPools = pools.map((p) => ({
        ...p,
        blockSize: 26,
        ipipMode: "Never",
        vxlanMode: "Never",
        natOutgoing: true,
        nodeSelector: "all()",
        disableBGPExport: false,
    })) as PoolConfig[];
    const blocks = [
        { cidr: "10.244.1.0/26", node: "n1", inUse: 3 },
        { cidr: "10.244.2.0/26", node: "n2", inUse: 2 },
        { cidr: "10.244.2.64/26", node: "n2", inUse: 0 },
    ];
    const workload = (name: string, ip: string) => pod(name, "n1", { namespace: "default", hostNetwork: false, podIps: [ip] });
    test.each([
        ["healthy", blocks, [workload("a", "10.244.1.2")], configPools, "pass", []],
        [
            "a pod outside every pool, one from the disabled pool, a block in the disabled pool in use",
            [...blocks, { cidr: "10.244.192.0/26", node: "n3", inUse: 1 }],
            [workload("a", "10.244.1.2"), workload("b", "10.245.0.9"), workload("c", "10.244.192.4")],
            configPools,
            "fail",
            [
                "pool ipv4-ippool-2 is disabled, but its block 10.244.192.0/26 on n3 has 1 addresses in use",
                "pod default/b has 10.245.0.9, outside every enabled pool",
                "pod default/c has 10.244.192.4 from the disabled pool ipv4-ippool-2",
            ],
        ],
        [
            "a pool that drifted from config",
            blocks,
            [],
            [{ ...configPools[0]! }, { ...configPools[1]!, disabled: false }],
            "warn",
            ["pools[ipv4-ippool-2]: configured cidr 10.244.192.0/19 disabled false, live 10.244.192.0/19 disabled true"],
        ],
    ] as const)("%s", (_n, b, pods, cp, status, details) => {
        const r = checkIpam({ ipam: "calico-ipam", pools, configPools: [...cp], blocks: [...b], pods: [...pods] });
        expect([r.status, r.details]).toEqual([status, details]);
    });

    test("figures: blocks per node and addresses in use per pool", () => {
        expect(checkIpam({ ipam: "calico-ipam", pools, configPools, blocks, pods: [workload("a", "10.244.1.2")] }).figures).toBe(
            "blocks per node: n1=1, n2=2; in use per pool: ipv4-ippool-1=5, ipv4-ippool-2=0; 1 pod addresses checked",
        );
    });
});

describe("Certificates", () => {
    const now = new Date("2026-06-01T00:00:00Z");
    const at = (days: number) => new Date(now.getTime() + days * 24 * 3600 * 1000);
    test.each([
        [
            "all far from expiry",
            [
                { name: "Typha CA (ConfigMap x)", notAfter: at(364.5) },
                { name: "CNI client (output)", notAfter: at(200) },
            ],
            "pass",
            "Typha CA 364d, CNI client 200d",
            [],
        ],
        [
            "inside the early-renewal window",
            [{ name: "Typha server (Secret y)", notAfter: at(10) }],
            "warn",
            "Typha server 10d",
            ["Typha server (Secret y): expires 2026-06-11T00:00:00.000Z, inside pki.earlyRenewalHours (720 h)"],
        ],
        [
            "expired",
            [
                { name: "node client (Secret z)", notAfter: at(-1) },
                { name: "Typha CA (ConfigMap x)", notAfter: at(10) },
            ],
            "fail",
            "node client -1d, Typha CA 10d",
            [
                "node client (Secret z): expired 2026-05-31T00:00:00.000Z",
                "Typha CA (ConfigMap x): expires 2026-06-11T00:00:00.000Z, inside pki.earlyRenewalHours (720 h)",
            ],
        ],
        [
            "not readable",
            [{ name: "CNI client (output)", error: "no cniClientCert output" }],
            "fail",
            "",
            ["CNI client (output): not read: no cniClientCert output"],
        ],
    ] as const)("%s", (_n, certs, status, figures, details) => {
        const r = checkCerts({ certs: [...certs], now, earlyRenewalHours: 720 });
        expect([r.status, r.figures, r.details]).toEqual([status, figures, details]);
    });
});

describe("Typha", () => {
    const replicas = [
        { pod: "calico-typha-a", node: "n1", felix: 2 },
        { pod: "calico-typha-b", node: "n2", felix: 1 },
    ];
    test.each([
        [
            "as many Felix connections as calico-node pods",
            replicas,
            CN_PODS,
            "pass",
            "3 Felix connections for 3 calico-node pods (calico-typha-a=2, calico-typha-b=1)",
            [],
        ],
        [
            "one Felix short",
            [replicas[0]!, { ...replicas[1]!, felix: 0 }],
            CN_PODS,
            "fail",
            "2 Felix connections for 3 calico-node pods (calico-typha-a=2, calico-typha-b=0)",
            ["Typha serves 2 Felix connections, 3 calico-node pods run"],
        ],
        [
            "metrics not read",
            [replicas[0]!, { pod: "calico-typha-b", node: "n2", error: "connection refused" }],
            CN_PODS,
            "fail",
            "2 Felix connections for 3 calico-node pods (calico-typha-a=2, calico-typha-b=?)",
            ["calico-typha-b on n2: metrics not read: connection refused"],
        ],
        ["no Typha pod", [], CN_PODS, "fail", "0 Felix connections for 3 calico-node pods (no Typha pod)", ["no Typha pod runs"]],
    ] as const)("%s", (_n, reps, pods, status, figures, details) => {
        const r = checkTypha({ enabled: true, metricsPort: 9093, replicas: [...reps], calicoNodePods: [...pods] });
        expect([r.status, r.figures, r.details]).toEqual([status, figures, details]);
    });

    test("skipped without Typha; a warning without its metrics port", () => {
        expect(checkTypha({ enabled: false, metricsPort: 9093, replicas: [], calicoNodePods: CN_PODS }).status).toBe("skip");
        expect(checkTypha({ enabled: true, metricsPort: 0, replicas: [], calicoNodePods: CN_PODS }).status).toBe("warn");
    });
});
