import { buildProgram, byType, find, installedFiles, kubernetesObjects, recorded } from "./harness";
import { conflistOnNode, installedFiles as daemonsetFiles, skippedImageBinaries } from "../components/builders/installCni";
import type { RawSecrets } from "../components/config/types";
import { CNI_IMAGE_BINARIES } from "../components/versions";
import { Mutate, TEST_CERT_PEM, TEST_KEY_PEM, labRaw, labSecrets, problemsOf, resolvedConfig } from "./fixtures";

const DS = "kubernetes:apps/v1:DaemonSet";

/** The lab with `cni.delivery: daemonset`: no CNI binary source, no cluster CA, Typha sized by hand. */
function daemonsetRaw(): any {
    const raw: any = labRaw();
    raw.cni = { delivery: "daemonset" };
    delete raw.cluster.caCert;
    raw.typha = { replicas: 2 };
    return raw;
}
const daemonsetSecrets = (): RawSecrets => ({ sshPrivateKey: TEST_KEY_PEM });

const etcd: Mutate = (raw, secrets) => {
    raw.datastore = { type: "etcd", etcdEndpoints: ["https://172.16.0.11:2379"] };
    delete raw.typha;
    Object.assign(secrets, { etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM });
};

function calicoNodeSpec(): any {
    return find(DS, "calico-node").inputs.spec.template.spec;
}
function installCni(): any {
    const c = calicoNodeSpec().initContainers.find((x: any) => x.name === "install-cni");
    if (!c) throw new Error("calico-node has no install-cni init container");
    return c;
}
const env = (c: any, name: string) => c.env.find((e: any) => e.name === name)?.value;

describe("validation: which keys need which cni.delivery", () => {
    const start = daemonsetRaw;
    const secrets = daemonsetSecrets;
    test.each<[string, Mutate, string[]]>([
        ["the daemonset lab", () => {}, []],
        [
            "no nodes at all",
            (r) => {
                r.nodes = [];
            },
            [],
        ],
        [
            "SSH-side binary sources",
            (r) => {
                r.cni.localBinDir = "./cni-bin";
                r.cni.downloads = { portmap: { url: "https://example.com/portmap", sha256: "0".repeat(64) } };
            },
            [
                'calico:cni.localBinDir = "./cni-bin": with cni.delivery daemonset the binaries come from the calico/cni image; remove it, or set cni.delivery ssh to deliver the files over SSH.',
                'calico:cni.downloads.portmap = "https://example.com/portmap": with cni.delivery daemonset the binaries come from the calico/cni image; remove it, or set cni.delivery ssh to deliver the files over SSH.',
            ],
        ],
        [
            "the cluster CA, from config and from a node",
            (r, s) => {
                r.cluster.caCert = TEST_CERT_PEM;
                r.cluster.caFromNode = "cka001";
                s.clusterCaKey = TEST_KEY_PEM;
            },
            [
                'calico:cluster.caCert = "(PEM)": with cni.delivery daemonset the CNI plugin authenticates with the calico-cni-plugin ServiceAccount\'s token, not a certificate from the cluster CA; remove it, or set cni.delivery ssh to deliver the files over SSH.',
                'calico:cluster.caFromNode = "cka001": with cni.delivery daemonset the CNI plugin authenticates with the calico-cni-plugin ServiceAccount\'s token, not a certificate from the cluster CA; remove it, or set cni.delivery ssh to deliver the files over SSH.',
                "calico:clusterCaKey = <secret>: with cni.delivery daemonset the CNI plugin authenticates with the calico-cni-plugin ServiceAccount's token, not a certificate from the cluster CA; remove it with `pulumi config rm calico:clusterCaKey`, or set cni.delivery ssh.",
            ],
        ],
        [
            "Typha without a replica count",
            (r) => {
                delete r.typha;
            },
            [
                "calico:typha.replicas = (unset): with cni.delivery daemonset calico:nodes need not list every node, so Typha cannot be sized from it; set typha.replicas for the cluster's size (the operator runs 3 up to 200 nodes, then one more per 200).",
            ],
        ],
        [
            "no SSH key: nothing is delivered over SSH",
            (_r, s) => {
                delete s.sshPrivateKey;
            },
            [],
        ],
        ["etcd needs no Typha count", etcd, []],
        [
            "an unknown delivery",
            (r) => {
                r.cni.delivery = "scp";
            },
            ['calico:cni.delivery = "scp": is not one of ssh, daemonset; use one of them.'],
        ],
    ])("%s", (_name, mutate, expected) => {
        expect(problemsOf(mutate, { start, secrets })).toEqual(expected);
    });

    test("with ssh delivery an empty node list is still refused", () => {
        expect(problemsOf((r) => (r.nodes = []))).toEqual([
            "calico:nodes = []: no nodes; list every Kubernetes node with its name and SSH address.",
        ]);
    });
});

describe("cni.delivery daemonset", () => {
    beforeAll(async () => {
        await buildProgram(resolvedConfig(daemonsetRaw(), daemonsetSecrets()));
    });

    test("no resource per node, no calico-cni certificate: the CNI plugin's identity is a ServiceAccount", () => {
        expect(recorded.filter((r) => r.type.startsWith("command:"))).toEqual([]);
        expect(byType("tls:index/locallySignedCert:LocallySignedCert").map((r) => r.name)).toEqual([
            "pki-typha-server-cert",
            "pki-node-client-cert",
        ]);
        expect(kubernetesObjects()).toEqual(
            expect.arrayContaining(["ServiceAccount/kube-system/calico-cni-plugin", "ClusterRoleBinding//calico-cni-plugin"]),
        );
        expect(find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "calico-cni-plugin").inputs.subjects).toEqual([
            { kind: "ServiceAccount", name: "calico-cni-plugin", namespace: "kube-system" },
        ]);
    });

    test("calico-node may request tokens for calico-cni-plugin only, and renews them (CALICO_MANAGE_CNI)", () => {
        const rules = find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "calico-node").inputs.rules;
        expect(rules.filter((r: any) => r.resources.includes("serviceaccounts/token"))).toEqual([
            { apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"], resourceNames: ["calico-cni-plugin"] },
        ]);
        const node = calicoNodeSpec().containers[0];
        expect(env(node, "CALICO_MANAGE_CNI")).toBe("true");
        expect(node.volumeMounts).toContainEqual({ name: "cni-net-dir", mountPath: "/host/etc/cni/net.d" });
    });

    test("install-cni runs first, from the calico/cni image of the pinned version, into the configured host dirs", () => {
        const spec = calicoNodeSpec();
        expect(spec.initContainers.map((c: any) => c.name)).toEqual(["install-cni", "ebpf-bootstrap"]);
        const c = installCni();
        expect(c.image).toBe("quay.io/calico/cni:v3.32.1");
        expect(c.command).toEqual(["/opt/cni/bin/install"]);
        expect(c.securityContext).toEqual({ privileged: true });
        expect(c.volumeMounts).toEqual([
            { name: "cni-bin-dir", mountPath: "/host/opt/cni/bin" },
            { name: "cni-net-dir", mountPath: "/host/etc/cni/net.d" },
        ]);
        expect(spec.volumes).toEqual(
            expect.arrayContaining([
                { name: "cni-bin-dir", hostPath: { path: "/opt/cni/bin" } },
                { name: "cni-net-dir", hostPath: { path: "/etc/cni/net.d" } },
            ]),
        );
        expect(c.env.find((e: any) => e.name === "KUBERNETES_NODE_NAME")).toEqual({
            name: "KUBERNETES_NODE_NAME",
            valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } },
        });
        expect([env(c, "CNI_CONF_NAME"), env(c, "CNI_NET_DIR"), env(c, "SLEEP"), env(c, "SKIP_CNI_BINARIES")]).toEqual([
            "10-calico.conflist",
            "/etc/cni/net.d",
            "false",
            "flannel,tuning",
        ]);
    });

    test("the resource count does not depend on the node count", async () => {
        const count = async (nodes: number) => {
            const raw = daemonsetRaw();
            raw.nodes = Array.from({ length: nodes }, (_, i) => ({ name: `node-${i}`, address: `10.0.${i >> 8}.${i & 255}` }));
            await buildProgram(resolvedConfig(raw, daemonsetSecrets()));
            return recorded.length;
        };
        expect(await count(40)).toBe(await count(0));
    });
});

describe("both modes write the same files for the same config", () => {
    /** Configs that change the conflist: MTU, IPAM, bandwidth, log level, paths, etcd. */
    const variants: [string, Mutate][] = [
        ["the lab", () => {}],
        [
            "VXLAN pools, an MTU, bandwidth, debug logs, another conf dir",
            (r) => {
                r.pools[0].vxlanMode = "Always";
                r.cluster.networkMtu = 9000;
                r.cni.bandwidth = true;
                r.cni.logLevel = "debug";
                r.cni.confDir = "/etc/cni/calico.d";
            },
        ],
        ["host-local IPAM", (r) => ((r.cni.ipam = "host-local"), r.nodes.forEach((n: any, i: number) => (n.podCidr = `10.244.${i}.0/24`)))],
        ["etcd", etcd],
    ];
    test.each(variants)("%s: install-cni's conflist on each node is the SSH mode's, byte for byte", async (_name, mutate) => {
        const ssh = labRaw() as any;
        const sshSecrets = labSecrets();
        mutate(ssh, sshSecrets);
        await buildProgram(resolvedConfig(ssh, sshSecrets));
        const sshFiles = Object.fromEntries(ssh.nodes.map((n: any) => [n.name, installedFiles(n.name)]));

        const ds = daemonsetRaw();
        const dsSecrets = daemonsetSecrets();
        mutate(ds, dsSecrets);
        const cfg = resolvedConfig(ds, dsSecrets);
        await buildProgram(cfg);
        const template = env(installCni(), "CNI_NETWORK_CONFIG");
        for (const node of ssh.nodes) {
            const files = sshFiles[node.name];
            const conflist = files.at(-1);
            expect(conflist.path).toBe(`${cfg.cni.confDir}/10-calico.conflist`);
            expect(conflistOnNode(template, node.name)).toBe(conflist.content);
            // Same paths too, but for etcd's client files, which install copies from the Secret (below).
            const paths = files.map((f: any) => f.path).filter((p: string) => !p.includes("/calico-tls/"));
            const binaries = cfg.cniPlugins.filter((b) => b !== "bandwidth");
            expect(daemonsetFiles({ binDir: cfg.cni.binDir, confDir: cfg.cni.confDir, binaries }).sort()).toEqual(
                [...paths, ...binaries.map((b) => `${cfg.cni.binDir}/${b}`)].sort(),
            );
        }
    });

    test("etcd: install copies the client files from the Secret, 0600 like the SSH mode, to the paths the conflist names", async () => {
        const ds = daemonsetRaw();
        const secrets = daemonsetSecrets();
        etcd(ds, secrets);
        await buildProgram(resolvedConfig(ds, secrets));
        const c = installCni();
        expect(c.volumeMounts).toContainEqual({ name: "cni-etcd-certs", mountPath: "/calico-secrets", readOnly: true });
        expect(calicoNodeSpec().volumes).toContainEqual({
            name: "cni-etcd-certs",
            secret: { secretName: "calico-etcd-secrets", defaultMode: 0o600 },
        });
        const conflist = JSON.parse(conflistOnNode(env(c, "CNI_NETWORK_CONFIG"), "cka001")).plugins[0];
        // install's fixed destination, /host/etc/cni/net.d/calico-tls, is the conf dir mounted there.
        expect([conflist.etcd_ca_cert_file, conflist.etcd_cert_file, conflist.etcd_key_file]).toEqual([
            "/etc/cni/net.d/calico-tls/etcd-ca",
            "/etc/cni/net.d/calico-tls/etcd-cert",
            "/etc/cni/net.d/calico-tls/etcd-key",
        ]);
    });

    test("install skips exactly the image's binaries the conflist never calls", () => {
        expect(CNI_IMAGE_BINARIES).toEqual(["calico", "calico-ipam", "flannel", "host-local", "install", "loopback", "portmap", "tuning"]);
        expect(skippedImageBinaries(["bandwidth", "calico", "calico-ipam", "host-local", "loopback", "portmap"])).toEqual([
            "flannel",
            "tuning",
        ]);
    });
});
