import {
    buildProgram,
    byType,
    deleteRounds,
    find,
    installedFile,
    installedFiles,
    isSecretOutput,
    kubernetesObjects,
    plain,
    recordedOpts,
    stagedPlans,
    stagedScript,
    valueOf,
} from "./harness";
import { UNINSTALL_SCRIPT } from "../components/builders/hostBundle";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { buildConflist } from "../components/builders/conflist";
import { calicoctlDatastore, cniEtcdDatastore, etcdHostFiles, etcdHostPaths } from "../components/builders/etcdHost";
import { Calico } from "../components/calico";
import type { RawSecrets } from "../components/config/types";
import { resolveConfig } from "../components/config/resolve";
import { Mutate, TEST_CERT_PEM, TEST_KEY_PEM, fakeEnv, labRaw, labSecrets, problemsOf, resolvedConfig } from "./fixtures";

const CMD = "command:remote:Command";
const ENDPOINTS = ["https://172.16.0.11:2379", "https://172.16.0.12:2379"];
const TLS_DIR = "/etc/cni/net.d/calico-tls";
const CONFLIST = "/etc/cni/net.d/10-calico.conflist";

function etcdRaw(): any {
    const raw: any = labRaw();
    raw.datastore = { type: "etcd", etcdEndpoints: [...ENDPOINTS] };
    return raw;
}

function etcdSecrets(): RawSecrets {
    return { ...labSecrets(), etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM };
}

describe("etcd host-side builders", () => {
    test("the client files sit under the CNI conf dir, 0600 and secret", () => {
        expect(etcdHostPaths("/etc/cni/net.d/")).toEqual({
            caFile: `${TLS_DIR}/etcd-ca`,
            certFile: `${TLS_DIR}/etcd-cert`,
            keyFile: `${TLS_DIR}/etcd-key`,
        });
        const files = etcdHostFiles("/etc/cni/net.d", { caCert: "CA", cert: "CERT", key: "KEY" });
        expect(files.map((f) => [f.name, f.path, f.content, f.mode, f.secret])).toEqual([
            ["etcd-ca", `${TLS_DIR}/etcd-ca`, "CA", "0600", true],
            ["etcd-cert", `${TLS_DIR}/etcd-cert`, "CERT", "0600", true],
            ["etcd-key", `${TLS_DIR}/etcd-key`, "KEY", "0600", true],
        ]);
    });

    test("the conflist carries etcdv3, the endpoints and the file paths", () => {
        const conflist: any = buildConflist({
            nodeName: "cka001",
            mtu: 1500,
            logLevel: "info",
            kubeconfigPath: "/etc/cni/net.d/calico-kubeconfig",
            ipam: "calico-ipam",
            ipv6: false,
            bandwidth: false,
            datastore: cniEtcdDatastore("/etc/cni/net.d", ENDPOINTS),
        });
        expect(conflist.plugins[0]).toMatchObject({
            datastore_type: "etcdv3",
            etcd_endpoints: ENDPOINTS.join(","),
            etcd_ca_cert_file: `${TLS_DIR}/etcd-ca`,
            etcd_cert_file: `${TLS_DIR}/etcd-cert`,
            etcd_key_file: `${TLS_DIR}/etcd-key`,
        });
    });

    test("calicoctl follows the datastore", () => {
        expect(calicoctlDatastore({ type: "kubernetes" }, "/etc/cni/net.d", "/etc/kubernetes/admin.conf")).toEqual({
            type: "kubernetes",
            kubeconfigPath: "/etc/kubernetes/admin.conf",
        });
        expect(calicoctlDatastore({ type: "etcd", endpoints: ENDPOINTS }, "/etc/cni/net.d", "/x")).toEqual({
            type: "etcd",
            endpoints: ENDPOINTS,
            ...etcdHostPaths("/etc/cni/net.d"),
        });
    });
});

describe("the etcd datastore under mocks", () => {
    let calico: Calico;
    beforeAll(async () => {
        calico = await buildProgram(resolvedConfig(etcdRaw(), etcdSecrets()));
    });

    test("applies no CRDs and no BGP or Felix custom resources", () => {
        expect(byType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")).toEqual([]);
        expect(recordedOpts.some((o) => o.type === "calico:index:Datastore" || o.type === "calico:index:Bgp")).toBe(false);
        expect(kubernetesObjects().filter((o) => /^(BGP|Felix)/.test(o))).toEqual([]);
    });

    test("writes the three etcd client files on every node, 0600, content on stdin as a secret", () => {
        for (const node of ["cka001", "cka002", "cka003"]) {
            for (const [stem, content] of [
                ["etcd-ca", TEST_CERT_PEM],
                ["etcd-cert", TEST_CERT_PEM],
                ["etcd-key", TEST_KEY_PEM],
            ]) {
                expect(installedFile(node, `${TLS_DIR}/${stem}`)).toEqual({ path: `${TLS_DIR}/${stem}`, mode: "0600", content });
            }
            expect(find(CMD, `${node}-cni-install`).inputs.create).not.toContain("BEGIN");
        }
        // Nor in the staged scripts, which are plain files on this machine and on every host; the uninstall removes the files.
        for (const script of stagedPlans[0]!.scripts) expect(script.content).not.toContain("BEGIN");
        expect(stagedScript(UNINSTALL_SCRIPT)).toContain(`${TLS_DIR}/etcd-key`);
    });

    test("each conflist points at the files written and is written after them", () => {
        for (const node of ["cka001", "cka002", "cka003"]) {
            const written = installedFiles(node).map((f) => f.path);
            const calicoPlugin = JSON.parse(installedFile(node, CONFLIST).content).plugins[0];
            expect(calicoPlugin.datastore_type).toBe("etcdv3");
            expect(calicoPlugin.etcd_endpoints).toBe(ENDPOINTS.join(","));
            for (const [field, stem] of [
                ["etcd_ca_cert_file", "etcd-ca"],
                ["etcd_cert_file", "etcd-cert"],
                ["etcd_key_file", "etcd-key"],
            ]) {
                expect(calicoPlugin[field]).toBe(`${TLS_DIR}/${stem}`);
            }
            expect(written).toEqual([
                "/etc/cni/net.d/calico-kubeconfig",
                `${TLS_DIR}/etcd-ca`,
                `${TLS_DIR}/etcd-cert`,
                `${TLS_DIR}/etcd-key`,
                CONFLIST,
            ]);
        }
    });

    test("the etcd client files are secret inputs of the CNI component's hosts", async () => {
        const stdin = find(CMD, "cka001-cni-install").inputs.stdin;
        expect(plain(stdin)).not.toBe(stdin);
    });

    test("destroy deletes calico-node's DaemonSet no later than any host's install, whose cleanup waits for Felix to stop", () => {
        const rounds = deleteRounds();
        const ds = rounds.get("kubernetes:apps/v1:DaemonSet::calico-node")!;
        for (const node of ["cka001", "cka002", "cka003"]) {
            const install = recordedOpts.find((o) => o.name === `${node}-cni-install`)!;
            // The install reads the calico-cni certificate through its stdin: a dependency the engine sees.
            expect(install.depKeys).toContain("tls:index/locallySignedCert:LocallySignedCert::pki-cni-client-cert");
            expect([node, ds <= rounds.get(install.key)!]).toEqual([node, true]);
        }
        expect(recordedOpts.find((o) => o.type === "kubernetes:apps/v1:DaemonSet")!.dependsOn).toContain("pki-cni-client-cert");
    });

    test("deploys no Typha", () => {
        expect(kubernetesObjects().filter((o) => o.includes("calico-typha"))).toEqual([]);
    });

    test("the calicoctl config uses etcd through the same host files", async () => {
        const doc = parse(String(await valueOf(calico.outputs.calicoctlConfig)));
        expect(doc).toEqual({
            apiVersion: "projectcalico.org/v3",
            kind: "CalicoAPIConfig",
            metadata: {},
            spec: {
                datastoreType: "etcdv3",
                etcdEndpoints: ENDPOINTS.join(","),
                etcdCACertFile: `${TLS_DIR}/etcd-ca`,
                etcdCertFile: `${TLS_DIR}/etcd-cert`,
                etcdKeyFile: `${TLS_DIR}/etcd-key`,
            },
        });
        expect(await isSecretOutput(calico.outputs.calicoctlConfig as string)).toBe(false);
    });
});

describe("the Kubernetes datastore's destroy order", () => {
    test("calico-node's DaemonSet is deleted no later than any host's install there too", async () => {
        await buildProgram(resolvedConfig());
        const rounds = deleteRounds();
        const ds = rounds.get("kubernetes:apps/v1:DaemonSet::calico-node")!;
        for (const node of ["cka001", "cka002", "cka003"]) {
            expect([node, ds <= rounds.get(`command:remote:Command::${node}-cni-install`)!]).toEqual([node, true]);
        }
    });
});

describe("the Kubernetes datastore's calicoctl config", () => {
    test("uses the admin kubeconfig", async () => {
        const calico = await buildProgram(resolvedConfig());
        const doc = parse(String(await valueOf(calico.outputs.calicoctlConfig as string)));
        expect(doc.spec).toEqual({ datastoreType: "kubernetes", kubeconfig: "/etc/kubernetes/admin.conf" });
    });
});

/** Problems of the etcd config after `mutate`; problemsOf alone starts from the lab. */
const etcdProblems = (mutate: Mutate) => problemsOf(mutate, { start: etcdRaw, secrets: etcdSecrets });

const ETCD_REFLECTOR =
    "is not supported with the etcd datastore: the cluster ID belongs on Calico's Node resource, which calico-node creates in etcd; remove it and run `calicoctl patch node` once the node is up (see the calicoctlConfig output), or use datastore.type kubernetes.";

const cases: [string, Mutate, string | string[]][] = [
    [
        "no endpoints",
        (r) => (r.datastore.etcdEndpoints = []),
        "calico:datastore.etcdEndpoints = []: no etcd endpoints; list the etcd client URLs, e.g. https://172.16.0.11:2379.",
    ],
    [
        "endpoint not a URL",
        (r) => (r.datastore.etcdEndpoints = ["172.16.0.11:2379"]),
        'calico:datastore.etcdEndpoints = "172.16.0.11:2379": is not an etcd client URL; write it as https://<host>:2379.',
    ],
    [
        "endpoint with a path",
        (r) => (r.datastore.etcdEndpoints = ["https://172.16.0.11:2379/v3"]),
        'calico:datastore.etcdEndpoints = "https://172.16.0.11:2379/v3": is not an etcd client URL; write it as https://<host>:2379.',
    ],
    [
        "endpoint with another scheme",
        (r) => (r.datastore.etcdEndpoints = ["unix:///var/run/etcd.sock"]),
        'calico:datastore.etcdEndpoints = "unix:///var/run/etcd.sock": is not an etcd client URL; write it as https://<host>:2379.',
    ],
    [
        "plain http endpoint",
        (r) => (r.datastore.etcdEndpoints = ["http://172.16.0.11:2379"]),
        'calico:datastore.etcdEndpoints = "http://172.16.0.11:2379": is plain http; Calico\'s etcd clients here always use TLS, so use the https client URL (usually port 2379).',
    ],
    [
        "https without the CA",
        (_r, s) => delete s.etcdCaCert,
        "calico:etcdCaCert = (unset): the etcd datastore needs the etcd CA certificate (ca.pem); run `pulumi config set --secret calico:etcdCaCert < file.pem`.",
    ],
    [
        "https without the client cert",
        (_r, s) => delete s.etcdCert,
        "calico:etcdCert = (unset): the etcd datastore needs Calico's etcd client certificate; run `pulumi config set --secret calico:etcdCert < file.pem`.",
    ],
    [
        "https without the key",
        (_r, s) => delete s.etcdKey,
        "calico:etcdKey = (unset): the etcd datastore needs the client certificate's private key; run `pulumi config set --secret calico:etcdKey < file.pem`.",
    ],
    [
        "CA not PEM",
        (_r, s) => (s.etcdCaCert = "not a cert"),
        "calico:etcdCaCert = <secret>: is not a PEM certificate; set it from the PEM file.",
    ],
    [
        "key not PEM",
        (_r, s) => (s.etcdKey = TEST_CERT_PEM),
        "calico:etcdKey = <secret>: is not a PEM private key; set it from the PEM file.",
    ],
    [
        "Typha switched on with etcd",
        (r) => (r.typha = { enabled: true }),
        "calico:typha.enabled = true: Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
    ],
    [
        "Typha replicas with etcd",
        (r) => (r.typha = { replicas: 2 }),
        "calico:typha.replicas = 2: Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
    ],
    [
        "Typha on the control plane with etcd",
        (r) => (r.typha = { tolerateControlPlane: true }),
        "calico:typha.tolerateControlPlane = true: Typha is not deployed with the etcd datastore (the Calico docs call it redundant there); remove it.",
    ],
    [
        "route reflectors with etcd",
        (r) => (r.nodes[0].routeReflectorClusterId = "244.0.0.1"),
        `calico:nodes[cka001].routeReflectorClusterId = "244.0.0.1": ${ETCD_REFLECTOR}`,
    ],
    [
        "unknown datastore",
        (r) => (r.datastore.type = "consul"),
        'calico:datastore.type = "consul": is not one of kubernetes, etcd; use one of them.',
    ],
];

const kddCases: [string, Mutate, string | string[]][] = [
    [
        "endpoints with the Kubernetes datastore",
        (r) => (r.datastore = { etcdEndpoints: ENDPOINTS }),
        'calico:datastore.etcdEndpoints = ["https://172.16.0.11:2379","https://172.16.0.12:2379"]: is set but datastore.type is kubernetes; set datastore.type etcd or remove the endpoints.',
    ],
    [
        "etcd TLS with the Kubernetes datastore",
        (_r, s) => (s.etcdKey = TEST_KEY_PEM),
        "calico:etcdKey = <secret>: is set but datastore.type is kubernetes; set datastore.type etcd or run `pulumi config rm calico:etcdKey`.",
    ],
];

describe("etcd validation", () => {
    test("the etcd config is valid", () => {
        expect(etcdProblems(() => undefined)).toEqual([]);
    });

    test.each(cases)("%s", (_name, mutate, message) => {
        expect(etcdProblems(mutate)).toEqual([message].flat());
    });

    // They reach etcd through the calicoctl Job (resources/calicoctlApply.ts).
    test.each<[string, Mutate]>([
        ["BGP AS", (r) => (r.bgp = { asNumber: 63400, logSeverity: "Warning" })],
        ["BGP peers", (r) => (r.bgp = { peers: [{ name: "tor", peerIP: "172.16.0.254", asNumber: 64513 }] })],
        [
            "mesh off with a peer",
            (r) => (r.bgp = { nodeToNodeMesh: false, peers: [{ name: "tor", peerIP: "172.16.0.254", asNumber: 64513 }] }),
        ],
        ["service advertisement", (r) => (r.bgp = { serviceClusterIPs: ["10.96.0.0/12"], serviceExternalIPs: ["192.0.2.0/24"] })],
        ["Felix knobs", (r) => (r.felix = { logSeverity: "Debug", prometheusMetricsEnabled: true })],
    ])("%s with etcd is valid", (_name, mutate) => {
        expect(etcdProblems(mutate)).toEqual([]);
    });

    test.each(kddCases)("%s", (_name, mutate, message) => {
        expect(problemsOf(mutate)).toEqual([message].flat());
    });

    test("a secret's value never appears in a message", () => {
        const msgs = etcdProblems((_r, s) => (s.etcdKey = "-----BEGIN NOT A KEY----- hunter2"));
        expect(msgs.join("\n")).not.toContain("hunter2");
    });

    test("TLS material becomes Pulumi secrets in the validated config", async () => {
        const v = resolveConfig(etcdRaw(), etcdSecrets(), fakeEnv, (s) => pulumi.secret(s));
        expect(v.ok).toBe(true);
        if (!v.ok) return;
        const ds = v.config.datastore;
        expect(ds.type).toBe("etcd");
        if (ds.type !== "etcd") return;
        expect(await isSecretOutput(ds.tls.key)).toBe(true);
        expect(await isSecretOutput(ds.tls.caCert)).toBe(true);
    });
});
