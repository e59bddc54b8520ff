import { find, plain, recordOptions, recordedOpts, reset, settle, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { CalicoNodeParams, buildCalicoNodeDaemonSet } from "../components/builders/calicoNode";
import { buildCalicoConfig, buildEtcdSecret } from "../components/builders/etcdClient";
import { CERT_HASH_ANNOTATION, podTemplateHash } from "../components/builders/podHash";
import { NODE_CERTS } from "../components/builders/pod";
import { buildCertSecret, buildTyphaCaConfigMap } from "../components/builders/typha";
import { buildRbac, calicoNodeRules } from "../components/builders/workloadRbac";
import { CalicoNode, type CalicoNodeArgs } from "../components/resources/calicoNode";
import { EtcdClient } from "../components/resources/etcdClient";
import { Typha } from "../components/resources/typha";
import { envOf, referenceObject, referenceRules, ruleTuples, unresolvedEnvPaths } from "./workloadChecks";

const base: CalicoNodeParams = {
    image: "quay.io/calico/node:v3.32.1",
    backend: "bird",
    ipAutodetectionMethod: "interface=eth0",
    ipv6: false,
    dataplane: { dataplane: "iptables", kubeProxy: "running" },
    usePodCidr: false,
    mtu: 1480,
    datastore: { type: "kubernetes" },
    typhaServiceName: "calico-typha",
    certHash: "h1",
    serviceAccountName: "calico-node",
};
const build = (p: Partial<CalicoNodeParams> = {}) => buildCalicoNodeDaemonSet({ ...base, ...p } as CalicoNodeParams);
const podOf = (p: Partial<CalicoNodeParams> = {}) => build(p).spec.template.spec;
const envFor = (p: Partial<CalicoNodeParams> = {}) => envOf(podOf(p), "calico-node");
const etcd: Partial<CalicoNodeParams> = {
    datastore: { type: "etcd", endpoints: ["https://10.0.0.1:2379", "https://10.0.0.2:2379"] },
    typhaServiceName: undefined,
};

describe("calico-node DaemonSet", () => {
    const pod = podOf();
    const env = envFor();

    test("runs on every node's host network, node-critical, with the hard way's tolerations", () => {
        expect(pod.hostNetwork).toBe(true);
        expect(pod.priorityClassName).toBe("system-node-critical");
        expect(pod.tolerations).toEqual(referenceObject("calico-typha.yaml", "DaemonSet", "calico-node").spec.template.spec.tolerations);
    });

    test("talks to the Kubernetes datastore through Typha with mutual TLS", () => {
        expect(env).toMatchObject({
            DATASTORE_TYPE: "kubernetes",
            FELIX_TYPHAK8SSERVICENAME: "calico-typha",
            FELIX_TYPHACAFILE: "/calico-typha-ca/typhaca.crt",
            FELIX_TYPHACN: "calico-typha",
            FELIX_TYPHACERTFILE: "/calico-node-certs/calico-node.crt",
            FELIX_TYPHAKEYFILE: "/calico-node-certs/calico-node.key",
        });
    });

    test("sets node name, backend, cluster type, IP autodetection and MTU", () => {
        expect(env.NODENAME).toBe(JSON.stringify({ fieldRef: { fieldPath: "spec.nodeName" } }));
        expect(env).toMatchObject({
            CALICO_NETWORKING_BACKEND: "bird",
            CLUSTER_TYPE: "k8s,bgp",
            IP: "autodetect",
            IP_AUTODETECTION_METHOD: "interface=eth0",
            FELIX_IPINIPMTU: "1480",
            FELIX_VXLANMTU: "1480",
            FELIX_WIREGUARDMTU: "1480",
            CALICO_MANAGE_CNI: "false",
        });
    });

    test("keeps IPv6 off unless configured", () => {
        expect(env).toMatchObject({ FELIX_IPV6SUPPORT: "false", IP6: "none" });
        expect(envFor({ ipv6: true, ipv6AutodetectionMethod: "interface=eth0" })).toMatchObject({
            FELIX_IPV6SUPPORT: "true",
            IP6: "autodetect",
            IP6_AUTODETECTION_METHOD: "interface=eth0",
            FELIX_VXLANMTUV6: "1480",
            FELIX_WIREGUARDMTUV6: "1480",
        });
        expect(envFor({ ipv6: true }).IP6_AUTODETECTION_METHOD).toBeUndefined();
    });

    test("has health probes and the -shutdown preStop hook", () => {
        const c = pod.containers[0]!;
        expect(c.livenessProbe?.exec?.command).toEqual(["/bin/calico-node", "-felix-live", "-bird-live"]);
        expect(c.readinessProbe?.exec?.command).toEqual(["/bin/calico-node", "-felix-ready", "-bird-ready"]);
        expect(c.lifecycle?.preStop.exec.command).toEqual(["/bin/calico-node", "-shutdown"]);
        expect(env.FELIX_HEALTHENABLED).toBe("true");
    });

    test.each(["vxlan", "none"] as const)("does not probe BIRD with the %s backend", (backend) => {
        const c = podOf({ backend }).containers[0]!;
        expect(c.livenessProbe?.exec?.command).toEqual(["/bin/calico-node", "-felix-live"]);
        expect(c.readinessProbe?.exec?.command).toEqual(["/bin/calico-node", "-felix-ready"]);
        expect(envFor({ backend }).CALICO_NETWORKING_BACKEND).toBe(backend);
    });

    test("mounts the reference's host paths except the CNI install dirs, which the hosts get directly", () => {
        const ref = referenceObject("calico-typha.yaml", "DaemonSet", "calico-node").spec.template.spec.volumes as {
            name: string;
            hostPath?: unknown;
        }[];
        const cniInstall = ["cni-bin-dir", "cni-net-dir", "host-local-net-dir"];
        const expected = ref.filter((v) => v.hostPath && !cniInstall.includes(v.name));
        expect(pod.volumes?.filter((v) => v.hostPath)).toEqual(expect.arrayContaining(expected));
        expect(pod.volumes?.filter((v) => v.hostPath)).toHaveLength(expected.length);
        const mounted = new Set(
            [...pod.containers, ...(pod.initContainers ?? [])].flatMap((c) => (c.volumeMounts ?? []).map((m) => m.name)),
        );
        expect((pod.volumes ?? []).filter((v) => !mounted.has(v.name))).toEqual([]);
    });

    test("every file path in env is a key of the ConfigMap or Secret mounted there", () => {
        const published = [buildTyphaCaConfigMap("CA"), buildCertSecret(NODE_CERTS, "calico-node", "C", "K")];
        expect(unresolvedEnvPaths(pod, published)).toEqual([]);
    });

    test("carries the cert hash on the pod template", () => {
        expect(build().spec.template.metadata.annotations).toEqual({ [CERT_HASH_ANNOTATION]: "h1" });
    });

    test("without Typha, sets no FELIX_TYPHA* env and mounts no Typha certs", () => {
        const p = podOf({ typhaServiceName: undefined });
        expect(Object.keys(envOf(p, "calico-node")).filter((k) => k.startsWith("FELIX_TYPHA"))).toEqual([]);
        expect(p.volumes?.map((v) => v.name)).not.toContain("calico-node-certs");
    });
});

describe("calico-node with per-node podCIDR IPAM", () => {
    test("sets USE_POD_CIDR only when asked", () => {
        expect(envFor({ usePodCidr: true })).toMatchObject({ USE_POD_CIDR: "true" });
        expect(envFor()).not.toHaveProperty("USE_POD_CIDR");
    });
});

describe("calico-node on the etcd datastore", () => {
    const pod = podOf(etcd);
    const env = envOf(pod, "calico-node");

    test("reads endpoints from calico-config and TLS files from calico-etcd-secrets", () => {
        expect(env).toMatchObject({
            DATASTORE_TYPE: "etcdv3",
            ETCD_ENDPOINTS: JSON.stringify({ configMapKeyRef: { name: "calico-config", key: "etcd_endpoints" } }),
            ETCD_CA_CERT_FILE: "/calico-secrets/etcd-ca",
            ETCD_CERT_FILE: "/calico-secrets/etcd-cert",
            ETCD_KEY_FILE: "/calico-secrets/etcd-key",
        });
        expect(pod.volumes).toContainEqual({ name: "etcd-certs", secret: { secretName: "calico-etcd-secrets", defaultMode: 0o400 } });
        expect(buildCalicoConfig(["https://a:2379", "https://b:2379"]).data).toEqual({ etcd_endpoints: "https://a:2379,https://b:2379" });
    });

    test("sets no FELIX_TYPHA* env", () => {
        expect(Object.keys(env).filter((k) => k.startsWith("FELIX_TYPHA"))).toEqual([]);
        // Typha with etcd does not type-check: config validation refuses it, and nothing after checks again.
        // @ts-expect-error Typha only on the Kubernetes datastore.
        const typhaOnEtcd: CalicoNodeParams = { ...base, ...etcd, typhaServiceName: "calico-typha" };
        expect(typhaOnEtcd.typhaServiceName).toBe("calico-typha");
    });

    test("every file path in env is a key of the etcd Secret", () => {
        expect(unresolvedEnvPaths(pod, [buildEtcdSecret({ ca: "A", cert: "C", key: "K" })])).toEqual([]);
    });
});

describe("calico-node RBAC", () => {
    test.each([
        ["kubernetes", "calico-typha.yaml"],
        ["etcd", "calico-etcd.yaml"],
    ] as const)("on %s grants exactly the v3.32.1 rules of %s", (datastore, file) => {
        expect(ruleTuples(calicoNodeRules(datastore))).toEqual(ruleTuples(referenceRules(file, "calico-node")));
    });

    test("binds the role to the ServiceAccount the pods run as", () => {
        const rbac = buildRbac("calico-node", calicoNodeRules("kubernetes"));
        expect(rbac.clusterRoleBinding.subjects.map((s) => s.name)).toEqual([rbac.serviceAccount.metadata.name]);
        expect(podOf().serviceAccountName).toBe(rbac.serviceAccount.metadata.name);
    });
});

describe("CalicoNode component under mocks", () => {
    const DS = "kubernetes:apps/v1:DaemonSet";
    const args: CalicoNodeArgs = {
        image: "quay.io/calico/node:v3.32.1",
        backend: "bird",
        ipAutodetectionMethod: "first-found",
        ipv6: false,
        dataplane: { dataplane: "iptables", kubeProxy: "running" },
        usePodCidr: false,
        mtu: 1500,
        datastore: { type: "kubernetes" },
    };
    const pem = (s: string) => pulumi.output(s);
    const typhaArgs = {
        tls: { caPem: pem("CA"), certPem: pem("TC"), keyPem: pulumi.secret("TK") },
        image: "quay.io/calico/typha:v3.32.1",
        replicas: 1,
        tolerateControlPlane: false,
        usePodCidr: false,
        metricsPort: 9093,
    };

    test("with Typha: RBAC, its own client Secret and the DaemonSet, after the Typha Deployment and the CA", async () => {
        reset();
        const typha = new Typha("typha", typhaArgs, { transformations: [recordOptions] });
        const tls = { caPem: pem("CA"), certPem: pem("NC"), keyPem: pulumi.secret("NK") };
        const node = new CalicoNode(
            "calico-node",
            {
                ...args,
                datastore: { type: "kubernetes", typha: { service: typha, tls } },
                ipAutodetectionMethod: "can-reach=8.8.8.8",
                mtu: 1440,
            },
            { transformations: [recordOptions] },
        );
        await settle();
        const secret = find("kubernetes:core/v1:Secret", "calico-node-certs");
        expect(plain(secret.inputs.stringData)).toEqual({ "calico-node.crt": "NC", "calico-node.key": "NK" });
        expect(recordedOpts.find((o) => o.key === "kubernetes:core/v1:Secret::calico-node-certs")?.parent).toBe("calico-node");
        const ds = find(DS, "calico-node").inputs;
        expect(ds.spec.template.metadata.annotations[CERT_HASH_ANNOTATION]).toBe(
            podTemplateHash({ "typhaca.crt": "CA", "calico-node.crt": "NC" }),
        );
        expect(ds.spec.template.spec.containers[0].image).toBe("quay.io/calico/node:v3.32.1");
        expect(find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "calico-node").inputs.subjects[0].name).toBe(
            "calico-node",
        );
        const deps = recordedOpts.find((o) => o.type === DS)?.dependsOn ?? [];
        expect(deps).toEqual(expect.arrayContaining(["calico-typha", "calico-typha-ca", "calico-node-certs", "calico-node"]));
        expect(await valueOf(node.ipAutodetectionMethod)).toBe("can-reach=8.8.8.8");
    });

    test("with etcd: calico-config and a secret calico-etcd-secrets from its EtcdClient, no Typha env", async () => {
        reset();
        const endpoints = ["https://10.0.0.1:2379"];
        const etcd = new EtcdClient(
            "etcd-client",
            { endpoints, tls: { caCert: "ECA", cert: "EC", key: "EK" } },
            { transformations: [recordOptions] },
        );
        new CalicoNode(
            "calico-node",
            { ...args, datastore: { type: "etcd", endpoints, client: etcd } },
            { transformations: [recordOptions] },
        );
        await settle();
        expect(find("kubernetes:core/v1:ConfigMap", "calico-config").inputs.data).toEqual({ etcd_endpoints: "https://10.0.0.1:2379" });
        const secret = find("kubernetes:core/v1:Secret", "calico-etcd-secrets").inputs;
        expect(plain(secret.stringData)).not.toBe(secret.stringData);
        expect(plain(secret.stringData)).toEqual({ "etcd-ca": "ECA", "etcd-cert": "EC", "etcd-key": "EK" });
        // Components register no inputs, so the key is only in the Secret.
        expect(find("calico:index:EtcdClient", "etcd-client").inputs).toEqual({});
        const env: { name: string }[] = find(DS, "calico-node").inputs.spec.template.spec.containers[0].env;
        expect(env.map((e) => e.name).filter((n) => n.startsWith("FELIX_TYPHA"))).toEqual([]);
        expect(recordedOpts.find((o) => o.type === DS)?.dependsOn).toEqual(
            expect.arrayContaining(["calico-config", "calico-etcd-secrets"]),
        );
        const hash = podTemplateHash({ "etcd-ca": "ECA", "etcd-cert": "EC", etcd_endpoints: "https://10.0.0.1:2379" });
        expect(await valueOf(etcd.certHash)).toBe(hash);
        expect(find(DS, "calico-node").inputs.spec.template.metadata.annotations[CERT_HASH_ANNOTATION]).toBe(hash);
    });
});
