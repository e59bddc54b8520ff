import { buildProgram, find, recorded, recordedOpts, valueOf, stagedScript } from "./harness";
import { INSTALL_SCRIPT } from "../components/builders/hostBundle";
import { type CalicoNodeParams, buildCalicoNodeDaemonSet } from "../components/builders/calicoNode";
import {
    type DataplaneParams,
    KUBE_PROXY_HEALTHZ_PORT,
    buildServicesEndpointConfigMap,
    dataplaneFelixFields,
    felixEnvName,
    servicesEndpoint,
} from "../components/builders/dataplane";
import { buildKubeControllersDeployment } from "../components/builders/kubeControllers";
import { CERT_HASH_ANNOTATION } from "../components/builders/podHash";
import { buildTyphaDeployment } from "../components/builders/typha";
import spec from "../components/facts/felixConfigurationSpec.json";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { Mutate, TEST_CERT_PEM, TEST_KEY_PEM, labRaw, labSecrets, problemsOf, resolvedConfig } from "./fixtures";
import { envOf, referenceObject } from "./workloadChecks";

const MODES: [string, DataplaneParams, Record<string, string>][] = [
    ["iptables", { dataplane: "iptables", kubeProxy: "running" }, { FELIX_BPFENABLED: "false", FELIX_NFTABLESMODE: "Disabled" }],
    ["nftables", { dataplane: "nftables", kubeProxy: "running" }, { FELIX_BPFENABLED: "false", FELIX_NFTABLESMODE: "Enabled" }],
    [
        "bpf beside kube-proxy",
        { dataplane: "bpf", kubeProxy: "running" },
        {
            FELIX_BPFENABLED: "true",
            FELIX_NFTABLESMODE: "Disabled",
            FELIX_BPFKUBEPROXYIPTABLESCLEANUPENABLED: "false",
            FELIX_BPFKUBEPROXYHEALTHZPORT: "0",
        },
    ],
    [
        "bpf in kube-proxy's place",
        { dataplane: "bpf", kubeProxy: "removed" },
        {
            FELIX_BPFENABLED: "true",
            FELIX_NFTABLESMODE: "Disabled",
            FELIX_BPFKUBEPROXYIPTABLESCLEANUPENABLED: "true",
            FELIX_BPFKUBEPROXYHEALTHZPORT: String(KUBE_PROXY_HEALTHZ_PORT),
        },
    ],
];

const params = (dataplane: DataplaneParams): CalicoNodeParams => ({
    image: "quay.io/calico/node:v3.32.1",
    backend: "bird",
    ipAutodetectionMethod: "first-found",
    ipv6: false,
    dataplane,
    usePodCidr: false,
    mtu: 1500,
    datastore: { type: "kubernetes" },
    typhaServiceName: "calico-typha",
    certHash: "h",
    serviceAccountName: "calico-node",
});

const REF_NODE = () => referenceObject("calico-typha.yaml", "DaemonSet", "calico-node").spec.template.spec;
const ENDPOINT_FROM = [{ configMapRef: { name: "kubernetes-services-endpoint", optional: true } }];

describe.each(MODES)("the %s dataplane", (_name, dataplane, env) => {
    const pod = buildCalicoNodeDaemonSet(params(dataplane)).spec.template.spec;

    test("sets Felix's mode on calico-node, so Felix starts in it", () => {
        const felixEnv = Object.fromEntries(Object.entries(envOf(pod, "calico-node")).filter(([k]) => /^FELIX_(BPF|NFTABLES)/.test(k)));
        expect(felixEnv).toEqual(env);
    });

    test("its Felix fields are FelixConfiguration fields of the pinned CRD, valid there, and the env Felix reads them from", () => {
        const fields = dataplaneFelixFields(dataplane);
        const obj = { apiVersion: "crd.projectcalico.org/v1", kind: "FelixConfiguration", metadata: { name: "default" }, spec: fields };
        expect([schemaErrors(obj), unknownSpecKeys(obj)]).toEqual([[], []]);
        expect(Object.keys(fields).map(felixEnvName).sort()).toEqual(Object.keys(env).sort());
        for (const f of Object.keys(fields)) expect(Object.keys(spec.fields)).toContain(f);
    });

    test("keeps the reference manifest's BPF plumbing: ebpf-bootstrap, the bpffs, sys-fs and /proc mounts", () => {
        const ref = REF_NODE();
        const bootstrap = (p: any) => p.initContainers.find((c: any) => c.name === "ebpf-bootstrap");
        expect(bootstrap(pod)).toEqual({ ...bootstrap(ref) });
        const named = (vs: any[], names: string[]) => vs.filter((v) => names.includes(v.name));
        const bpf = ["bpffs", "sys-fs", "nodeproc"];
        expect(named(pod.volumes!, bpf)).toEqual(named(ref.volumes, bpf));
        const mounts = (p: any) => p.containers.find((c: any) => c.name === "calico-node").volumeMounts;
        expect(named(mounts(pod), ["bpffs"])).toEqual(named(mounts(ref), ["bpffs"]));
    });

    test("calico-node, Typha and kube-controllers take kubernetes-services-endpoint as the reference (and the operator) do", () => {
        const typha = buildTyphaDeployment({
            image: "t",
            replicas: 1,
            certHash: "",
            tolerateControlPlane: false,
            usePodCidr: false,
            serviceAccountName: "calico-typha",
            metricsPort: 9093,
        }).spec.template.spec.containers[0]!;
        const kc = buildKubeControllersDeployment({ image: "k", datastore: { type: "kubernetes" }, serviceAccountName: "x" }).spec.template
            .spec.containers[0]!;
        expect(pod.containers[0]!.envFrom).toEqual(REF_NODE().containers[0].envFrom);
        expect(typha.envFrom).toEqual(
            referenceObject("calico-typha.yaml", "Deployment", "calico-typha").spec.template.spec.containers[0].envFrom,
        );
        expect([pod.containers[0]!.envFrom, typha.envFrom, kc.envFrom]).toEqual([ENDPOINT_FROM, ENDPOINT_FROM, ENDPOINT_FROM]);
    });
});

describe("kubernetes-services-endpoint", () => {
    test.each([
        ["https://172.16.0.11:6443", "172.16.0.11", "6443"],
        ["https://k8s.example.com", "k8s.example.com", "443"],
        ["https://[fd00::11]:6443", "fd00::11", "6443"],
    ])("%s: host %s, port %s", (url, host, port) => {
        expect(servicesEndpoint(url)).toEqual({ host, port });
        expect(buildServicesEndpointConfigMap(url)).toMatchObject({
            kind: "ConfigMap",
            metadata: { name: "kubernetes-services-endpoint", namespace: "kube-system" },
            data: { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port },
        });
    });
});

describe("the eBPF dataplane under mocks", () => {
    const CM = "kubernetes:core/v1:ConfigMap";
    const consumers = [
        ["kubernetes:apps/v1:DaemonSet", "calico-node"],
        ["kubernetes:apps/v1:Deployment", "calico-typha"],
        ["kubernetes:apps/v1:Deployment", "calico-kube-controllers"],
    ] as const;
    const bpf = (apiServer = "https://172.16.0.11:6443") => {
        const raw: any = labRaw();
        raw.cluster.apiServer = apiServer;
        raw.calicoNode = { dataplane: "bpf", kubeProxy: "removed" };
        return resolvedConfig(raw);
    };
    const hashes = () => consumers.map(([type, name]) => find(type, name).inputs.spec.template.metadata.annotations[CERT_HASH_ANNOTATION]);

    test("publishes the API server's address; calico-node, Typha and kube-controllers wait for it", async () => {
        await buildProgram(bpf());
        expect(find(CM, "kubernetes-services-endpoint").inputs.data).toEqual({
            KUBERNETES_SERVICE_HOST: "172.16.0.11",
            KUBERNETES_SERVICE_PORT: "6443",
        });
        for (const [type, name] of consumers) {
            expect(recordedOpts.find((o) => o.type === type && o.name === name)?.dependsOn).toContain("kubernetes-services-endpoint");
        }
        const env = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0].env;
        expect(env).toEqual(expect.arrayContaining([{ name: "FELIX_BPFENABLED", value: "true" }]));
    });

    test("a new API server address rolls all three (their pod templates' hash changes)", async () => {
        await buildProgram(bpf());
        const first = hashes();
        await buildProgram(bpf("https://172.16.0.10:6443"));
        const second = hashes();
        expect(first.every((h) => typeof h === "string" && h.length === 64)).toBe(true);
        second.forEach((h, i) => expect(h).not.toBe(first[i]));
    });

    test("the iptables and nftables dataplanes publish no endpoint", async () => {
        for (const dataplane of ["iptables", "nftables"]) {
            const raw: any = labRaw();
            raw.calicoNode = { dataplane };
            await buildProgram(resolvedConfig(raw));
            expect(recorded.filter((r) => r.name === "kubernetes-services-endpoint")).toEqual([]);
            const node = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0].env;
            expect(node).toContainEqual({ name: "FELIX_NFTABLESMODE", value: dataplane === "nftables" ? "Enabled" : "Disabled" });
        }
    });

    test("the conflist and the node's preflight follow: /sys/fs/bpf and kube-proxy are checked", async () => {
        const calico = await buildProgram(bpf());
        const create = stagedScript(INSTALL_SCRIPT);
        expect(create).toContain("/sys/fs/bpf is missing");
        expect(create).toContain("runs kube-proxy");
        expect(await valueOf(calico.outputs.podMtu)).toBe(1500);
    });
});

describe("dataplane validation", () => {
    test.each<[string, Mutate, string[]]>([
        [
            "kube-proxy removed with the iptables dataplane",
            (r) => (r.calicoNode = { kubeProxy: "removed" }),
            [
                'calico:calicoNode.kubeProxy = "removed": only the bpf dataplane takes kube-proxy\'s place (calicoNode.dataplane is iptables), so Services would stop working; keep kube-proxy (running) or set calicoNode.dataplane bpf.',
            ],
        ],
        [
            "kube-proxy removed with nftables",
            (r) => (r.calicoNode = { dataplane: "nftables", kubeProxy: "removed" }),
            [
                'calico:calicoNode.kubeProxy = "removed": only the bpf dataplane takes kube-proxy\'s place (calicoNode.dataplane is nftables), so Services would stop working; keep kube-proxy (running) or set calicoNode.dataplane bpf.',
            ],
        ],
        [
            "eBPF on the etcd datastore",
            (r, s) => {
                r.calicoNode = { dataplane: "bpf" };
                r.datastore = { type: "etcd", etcdEndpoints: ["https://172.16.0.11:2379"] };
                Object.assign(s, { etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM });
            },
            [
                'calico:calicoNode.dataplane = "bpf": the eBPF dataplane needs the Kubernetes datastore (a requirement in Calico\'s eBPF docs), and datastore.type is etcd; use iptables or nftables with etcd, or datastore.type kubernetes.',
            ],
        ],
        [
            "an unknown dataplane",
            (r) => (r.calicoNode = { dataplane: "xdp" }),
            ['calico:calicoNode.dataplane = "xdp": is not one of iptables, nftables, bpf; use one of them.'],
        ],
    ])("%s", (_name, mutate, expected) => {
        expect(problemsOf(mutate, { secrets: labSecrets })).toEqual(expected);
    });

    test.each(["iptables", "nftables", "bpf"])("%s with kube-proxy running is valid", (dataplane) => {
        expect(problemsOf((r) => (r.calicoNode = { dataplane, kubeProxy: "running" }))).toEqual([]);
    });
});
