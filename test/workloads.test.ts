import { buildProgram, byType, find, plain, recordedOpts, valueOf } from "./harness";
import { Calico } from "../components/calico";
import { Mutate, TEST_CERT_PEM, TEST_KEY_PEM, labRaw, labSecrets, problemsOf, resolvedConfig } from "./fixtures";

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const DAEMONSET = "kubernetes:apps/v1:DaemonSet";
const depsOf = (type: string, name: string) => recordedOpts.find((o) => o.type === type && o.name === name)?.dependsOn ?? [];
const nodeEnvNames = (): string[] =>
    find(DAEMONSET, "calico-node").inputs.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);

describe("workloads in the lab program", () => {
    let calico: Calico;
    beforeAll(async () => {
        calico = await buildProgram(resolvedConfig());
    });

    test("Typha (2 replicas for 3 nodes), calico-node and kube-controllers are created", () => {
        expect(find(DEPLOYMENT, "calico-typha").inputs.spec.replicas).toBe(2);
        expect(find(DEPLOYMENT, "calico-kube-controllers").inputs.spec.replicas).toBe(1);
        expect(nodeEnvNames()).toEqual(expect.arrayContaining(["FELIX_TYPHAK8SSERVICENAME", "FELIX_TYPHACN"]));
    });

    test("workloads wait for the CRDs; calico-node for Typha; kube-controllers for calico-node and the CNI hosts", () => {
        for (const [type, name] of [
            [DEPLOYMENT, "calico-typha"],
            [DAEMONSET, "calico-node"],
            [DEPLOYMENT, "calico-kube-controllers"],
        ] as const) {
            expect(depsOf(type, name)).toContain("felixconfigurations.crd.projectcalico.org");
        }
        expect(depsOf(DAEMONSET, "calico-node")).toContain("calico-typha");
        expect(depsOf(DEPLOYMENT, "calico-kube-controllers")).toEqual(expect.arrayContaining(["cni", "calico-node"]));
        // Its ServiceAccount and RBAC need neither, and keep no URN of them (state).
        expect(depsOf("kubernetes:core/v1:ServiceAccount", "calico-kube-controllers")).toEqual([]);
    });

    test("the Typha secrets hold the PKI's key material as secrets", () => {
        const s = find("kubernetes:core/v1:Secret", "calico-typha-certs").inputs;
        expect(plain(s.stringData)).not.toBe(s.stringData);
        expect(plain(s.stringData)["typha.key"]).toContain("key-of-pki-typha-server-key");
        expect(find("kubernetes:core/v1:ConfigMap", "calico-typha-ca").inputs.data["typhaca.crt"]).toContain("self-signed pki-typha-ca");
    });

    test("exports the Typha service and replicas, the images and the autodetection method", async () => {
        expect(await valueOf(calico.outputs.typhaServiceName)).toBe("calico-typha");
        expect(await valueOf(calico.outputs.typhaReplicas)).toBe(2);
        expect(await valueOf(calico.outputs.images)).toEqual({
            node: "quay.io/calico/node:v3.32.1",
            typha: "quay.io/calico/typha:v3.32.1",
            "kube-controllers": "quay.io/calico/kube-controllers:v3.32.1",
        });
        expect(await valueOf(calico.outputs.ipAutodetectionMethod)).toBe("first-found");
    });
});

describe("workload config", () => {
    test("calicoVersion and registry move every workload image together", async () => {
        const raw: any = { ...labRaw(), calicoVersion: "v3.32.2", registry: "docker.m.daocloud.io" };
        await buildProgram(resolvedConfig(raw));
        const images = [...byType(DEPLOYMENT), ...byType(DAEMONSET)].flatMap((r) =>
            [...r.inputs.spec.template.spec.containers, ...(r.inputs.spec.template.spec.initContainers ?? [])].map(
                (c: { image: string }) => c.image,
            ),
        );
        // calico-node's init container runs the node image too.
        expect(images.sort()).toEqual(["kube-controllers", "node", "node", "typha"].map((i) => `docker.m.daocloud.io/calico/${i}:v3.32.2`));
    });

    test("typha.replicas overrides the formula; the autodetection method reaches calico-node", async () => {
        const raw: any = {
            ...labRaw(),
            typha: { replicas: 3, tolerateControlPlane: true },
            calicoNode: { ipAutodetectionMethod: "cidr=172.16.0.0/24" },
        };
        const calico = await buildProgram(resolvedConfig(raw));
        expect(find(DEPLOYMENT, "calico-typha").inputs.spec.replicas).toBe(3);
        expect(await valueOf(calico.outputs.typhaReplicas)).toBe(3);
        const env = find(DAEMONSET, "calico-node").inputs.spec.template.spec.containers[0].env;
        expect(env).toContainEqual({ name: "IP_AUTODETECTION_METHOD", value: "cidr=172.16.0.0/24" });
    });

    test.each([{ enabled: false }, { replicas: 0 }])("typha %j: no Typha objects and no FELIX_TYPHA* env", async (typha) => {
        const calico = await buildProgram(resolvedConfig({ ...labRaw(), typha } as any));
        expect(byType(DEPLOYMENT).map((r) => r.name)).toEqual(["calico-kube-controllers"]);
        expect(nodeEnvNames().filter((n) => n.startsWith("FELIX_TYPHA"))).toEqual([]);
        expect(await valueOf(calico.outputs.typhaReplicas)).toBe(0);
    });

    test("kubeControllers.enabled false: no kube-controllers", async () => {
        await buildProgram(resolvedConfig({ ...labRaw(), kubeControllers: { enabled: false } } as any));
        expect(byType(DEPLOYMENT).map((r) => r.name)).toEqual(["calico-typha"]);
    });
});

describe("workloads on the etcd datastore", () => {
    beforeAll(async () => {
        const raw: any = { ...labRaw(), datastore: { type: "etcd", etcdEndpoints: ["https://172.16.0.11:2379"] } };
        await buildProgram(
            resolvedConfig(raw, { ...labSecrets(), etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM }),
        );
    });

    test("no Typha, and calico-node reads etcd from calico-config and calico-etcd-secrets", () => {
        expect(byType(DEPLOYMENT).map((r) => r.name)).toEqual(["calico-kube-controllers"]);
        expect(nodeEnvNames().filter((n) => n.startsWith("FELIX_TYPHA"))).toEqual([]);
        expect(nodeEnvNames()).toEqual(expect.arrayContaining(["ETCD_ENDPOINTS", "ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE"]));
        expect(find("kubernetes:core/v1:ConfigMap", "calico-config").inputs.data).toEqual({ etcd_endpoints: "https://172.16.0.11:2379" });
        const s = find("kubernetes:core/v1:Secret", "calico-etcd-secrets").inputs;
        expect(plain(s.stringData)).not.toBe(s.stringData);
        expect(Object.keys(plain(s.stringData)).sort()).toEqual(["etcd-ca", "etcd-cert", "etcd-key"]);
    });

    test("kube-controllers mirror policy into etcd and start after the etcd client objects", () => {
        const env = find(DEPLOYMENT, "calico-kube-controllers").inputs.spec.template.spec.containers[0].env;
        expect(env).toContainEqual({
            name: "ENABLED_CONTROLLERS",
            value: "policy,namespace,serviceaccount,workloadendpoint,node,loadbalancer",
        });
        expect(depsOf(DEPLOYMENT, "calico-kube-controllers")).toEqual(
            expect.arrayContaining(["calico-config", "calico-etcd-secrets", "calico-node"]),
        );
    });
});

describe("workload config validation", () => {
    test.each<[string, Mutate, string | string[]]>([
        [
            "VXLAN pool with no backend",
            (r) => {
                r.pools[0].vxlanMode = "Always";
                r.calicoNode = { backend: "none" };
            },
            'calico:pools[ipv4-ippool-1].vxlanMode = "Always": VXLAN needs the vxlan or bird backend (calicoNode.backend is none); change the backend or set vxlanMode Never.',
        ],
        [
            "IPv6 pool with IPv6 off",
            (r) => {
                r.cluster.podCidrV6 = "fd00:10:244::/56";
                r.pools.push({ name: "v6", cidr: "fd00:10:244::/64", blockSize: 122 });
            },
            [
                "calico:calicoNode.ipv6 = false: an IPv6 pool is configured but IPv6 is off; set calicoNode.ipv6 true or remove the IPv6 pool.",
                'calico:cluster.podCidrV6 = "fd00:10:244::/56": is set but calicoNode.ipv6 is false, so no pod gets an IPv6 address; set calicoNode.ipv6 true for dual-stack, or remove it.',
            ],
        ],
        [
            "too many Typha replicas",
            (r) => {
                r.typha = { replicas: 21 };
            },
            "calico:typha.replicas = 21: use 0-20, or leave it unset to follow the node count as the operator does.",
        ],
        [
            "unknown backend",
            (r) => {
                r.calicoNode = { backend: "ipip" };
            },
            'calico:calicoNode.backend = "ipip": is not one of bird, vxlan, none; use one of them.',
        ],
    ])("%s", (_name, mutate, message) => {
        expect(problemsOf(mutate)).toEqual([message].flat());
    });

    test("the vxlan backend carries VXLAN pools", () => {
        expect(
            problemsOf((r) => {
                r.pools[0].vxlanMode = "Always";
                r.calicoNode = { backend: "vxlan" };
            }),
        ).toEqual([]);
    });
});
