import { buildProgram, byType, calls, find, isSecretOutput, kubernetesObjects, plain, recorded, recordedOpts, valueOf } from "./harness";
import { parse } from "yaml";
import { REFERENCE_CRD_NAMES } from "./crdSchema";
import { Calico } from "../components/calico";
import { CERT_SPECS } from "../components/builders/certs";
import { TEST_CERT_PEM, labRaw, resolvedConfig } from "./fixtures";
import { dataplaneCleanupScript } from "../components/builders/dataplaneCleanup";
import { asRoot } from "../components/builders/hostScripts";

const CMD = "command:remote:Command";

describe("the lab under mocks", () => {
    let calico: Calico;
    beforeAll(async () => {
        calico = await buildProgram(resolvedConfig());
    });

    test("creates the PKI: Typha CA, Typha server, node client and CNI client certs", () => {
        const ca = find("tls:index/selfSignedCert:SelfSignedCert", "pki-typha-ca");
        expect(ca.inputs).toMatchObject({ isCaCertificate: true, subject: { commonName: "Calico Typha CA" } });
        for (const spec of Object.values(CERT_SPECS)) {
            const csr = find("tls:index/certRequest:CertRequest", `pki-${spec.name}-csr`);
            expect(csr.inputs.subject.commonName).toBe(spec.commonName);
            const cert = find("tls:index/locallySignedCert:LocallySignedCert", `pki-${spec.name}-cert`);
            expect(cert.inputs.allowedUses).toEqual(spec.allowedUses);
        }
        expect(
            byType("tls:index/privateKey:PrivateKey")
                .map((k) => k.name)
                .sort(),
        ).toEqual(["pki-cni-client-key", "pki-node-client-key", "pki-typha-ca-key", "pki-typha-server-key"]);
    });

    test("signs the CNI cert with the cluster CA and the Typha certs with the Typha CA", () => {
        const cni = find("tls:index/locallySignedCert:LocallySignedCert", "pki-cni-client-cert");
        expect(cni.inputs.caCertPem).toBe(TEST_CERT_PEM);
        expect(plain(cni.inputs.caPrivateKeyPem)).toContain("PRIVATE KEY");
        for (const stem of ["typha-server", "node-client"]) {
            const cert = find("tls:index/locallySignedCert:LocallySignedCert", `pki-${stem}-cert`);
            expect(cert.inputs.caCertPem).toContain("self-signed pki-typha-ca");
            expect(plain(cert.inputs.caPrivateKeyPem)).toContain("key-of-pki-typha-ca-key");
        }
    });

    test("applies the CRDs, then the pools", () => {
        expect(kubernetesObjects()).toEqual(
            expect.arrayContaining([
                "ClusterRole//calico-cni-plugin",
                "ClusterRoleBinding//calico-cni-plugin",
                "IPPool//ipv4-ippool-1",
                "IPPool//ipv4-ippool-2",
            ]),
        );
        const pools = recordedOpts.find((o) => o.name === "ip-pools");
        // The CRDs themselves, not the Datastore component: its CRDs register after the pools are prepared.
        expect([...(pools?.dependsOn ?? [])].sort()).toEqual([...REFERENCE_CRD_NAMES].sort());
        // The pools themselves depend on the CRDs too, so destroy deletes them before the CRDs.
        for (const pool of ["ippool-ipv4-ippool-1", "ippool-ipv4-ippool-2"]) {
            expect(recordedOpts.find((o) => o.name === pool)?.dependsOn).toContain("ippools.crd.projectcalico.org");
        }
        const crds = byType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition");
        expect(crds.map((c) => c.inputs.metadata.name).sort()).toEqual([...REFERENCE_CRD_NAMES].sort());
    });

    test("every Calico custom resource and workload object depends on the CRDs itself", () => {
        const needCrds = recorded.filter(
            (r) => r.type.startsWith("kubernetes:crd.projectcalico.org") || /kubernetes:(apps\/v1|core\/v1:ConfigMap|policy)/.test(r.type),
        );
        expect(needCrds.length).toBeGreaterThan(5);
        for (const r of needCrds) {
            expect({ name: r.name, dependsOn: recordedOpts.find((o) => o.name === r.name && o.type === r.type)?.dependsOn }).toEqual({
                name: r.name,
                dependsOn: expect.arrayContaining(["ippools.crd.projectcalico.org", "bgppeers.crd.projectcalico.org"]),
            });
        }
    });

    test("calico-node starts after its pools and never creates Calico's default pool", () => {
        const ds = recordedOpts.find((o) => o.type === "kubernetes:apps/v1:DaemonSet" && o.name === "calico-node");
        expect(ds?.dependsOn).toContain("ip-pools");
        const env = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0].env;
        expect(env).toContainEqual({ name: "NO_DEFAULT_POOLS", value: "true" });
        expect(env.map((e: any) => e.name)).not.toContain("CALICO_IPV4POOL_CIDR");
    });

    test("each node's dataplane cleanup runs on delete only, after calico-node is gone", () => {
        for (const node of ["cka001", "cka002", "cka003"]) {
            const cleanup = find(CMD, `${node}-dataplane`);
            expect(cleanup.inputs.create).toBe("true");
            expect(cleanup.inputs.delete).toBe(asRoot(dataplaneCleanupScript(), "root"));
        }
        // calico-node depends on every cleanup (so destroy removes the DaemonSet first), and on no host file:
        // a node that is down must not hold up a DaemonSet update.
        const ds = recordedOpts.find((o) => o.type === "kubernetes:apps/v1:DaemonSet" && o.name === "calico-node")!;
        expect(ds.dependsOn.filter((d) => d.startsWith("cka")).sort()).toEqual([
            "cka001-dataplane",
            "cka002-dataplane",
            "cka003-dataplane",
        ]);
    });

    test("components that only group children register no inputs, so a change shows once in preview", () => {
        for (const type of ["calico:index:IpPools", "calico:index:CniHost", "calico:index:Bgp"]) {
            const comps = recorded.filter((r) => r.type === type);
            expect(comps.length).toBeGreaterThan(0);
            for (const c of comps) expect(c.inputs).toEqual({});
        }
    });

    test("binds the CNI role to the user named by the CNI cert's CN", () => {
        const binding = find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "calico-cni-plugin");
        expect(binding.inputs.subjects).toEqual([{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: CERT_SPECS.cni.commonName }]);
        expect(binding.inputs.roleRef.name).toBe("calico-cni-plugin");
    });

    test("writes each node's files over SSH, named from the node", () => {
        for (const node of ["cka001", "cka002", "cka003"]) {
            const conflist = find(CMD, `${node}-conflist`);
            const kubeconfig = find(CMD, `${node}-kubeconfig`);
            expect(kubeconfig.inputs.create).toContain("chmod 0600");
            expect(kubeconfig.inputs.create).toContain("/etc/cni/net.d/calico-kubeconfig");
            expect(conflist.inputs.create).toContain("/etc/cni/net.d/10-calico.conflist");
            // Content travels on stdin, never on the command line.
            expect(conflist.inputs.create).not.toContain("k8s-pod-network");
            const parsed = JSON.parse(conflist.inputs.stdin);
            expect(parsed.plugins[0].nodename).toBe(node);
            expect(kubeconfig.inputs.create).not.toContain("client-key-data");
            for (const bin of ["calico", "calico-ipam", "portmap", "loopback", "host-local"]) {
                expect(find(CMD, `${node}-bin-${bin}`).inputs.create).toContain(`/opt/cni/bin/${bin}`);
                expect(find("command:remote:CopyToRemote", `${node}-bin-${bin}-upload`).inputs.remotePath).toBe(
                    `/opt/cni/bin/.${bin}.upload`,
                );
            }
        }
    });

    test("the kubeconfig path in each conflist is the file that is written", () => {
        const conflist = JSON.parse(find(CMD, "cka002-conflist").inputs.stdin);
        const path = conflist.plugins[0].kubernetes.kubeconfig;
        expect(path).toBe("/etc/cni/net.d/calico-kubeconfig");
        expect(find(CMD, "cka002-kubeconfig").inputs.create).toMatch(new RegExp(`mv -f "\\$tmp" '\\\\''${path}'`));
    });

    test("the conflist is written after the binaries and the kubeconfig", () => {
        const opts = recordedOpts.find((o) => o.name === "cka001-conflist")!;
        expect(opts.dependsOn.sort()).toEqual([
            "cka001-bin-calico",
            "cka001-bin-calico-ipam",
            "cka001-bin-host-local",
            "cka001-bin-loopback",
            "cka001-bin-portmap",
            "cka001-kubeconfig",
        ]);
    });

    test("the CNI kubeconfig uses the cluster CA, the API server and context cni@kubernetes", async () => {
        const text = await valueOf(calico.cni.kubeconfig);
        const kc = parse(text);
        expect(kc["current-context"]).toBe("cni@kubernetes");
        expect(kc.clusters[0].cluster.server).toBe("https://172.16.0.11:6443");
        expect(Buffer.from(kc.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(TEST_CERT_PEM);
        expect(kc.users[0].name).toBe("calico-cni");
        expect(Buffer.from(kc.users[0].user["client-key-data"], "base64").toString()).toContain("key-of-pki-cni-client-key");
    });

    test("secrets stay secret: keys, kubeconfig, the CA key", async () => {
        expect(await isSecretOutput(calico.cni.kubeconfig)).toBe(true);
        expect(await isSecretOutput(calico.pki.cniKeyPem)).toBe(true);
        expect(await isSecretOutput(calico.pki.typhaKeyPem)).toBe(true);
        expect(await isSecretOutput(calico.pki.nodeKeyPem)).toBe(true);
        expect(await isSecretOutput(calico.outputs.cniKubeconfig as any)).toBe(true);
    });

    test("makes no function calls but YAML decoding", () => {
        expect([...new Set(calls.map((c) => c.token))]).toEqual(["kubernetes:yaml:decode"]);
    });
});

describe("the cluster CA read from a node", () => {
    test("reads both files over SSH from that node, the key as a secret output", async () => {
        const raw: any = labRaw();
        delete raw.cluster.caCert;
        raw.cluster.caFromNode = "cka001";
        await buildProgram(resolvedConfig(raw, { sshPrivateKey: "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----" }));
        expect(find(CMD, "cka001-cluster-ca-cert").inputs.create).toContain("/etc/kubernetes/pki/ca.crt");
        expect(find(CMD, "cka001-cluster-ca-key").inputs.create).toContain("/etc/kubernetes/pki/ca.key");
        expect(recordedOpts.find((o) => o.name === "cka001-cluster-ca-key")?.additionalSecretOutputs).toContain("stdout");
        expect(find("tls:index/locallySignedCert:LocallySignedCert", "pki-cni-client-cert").inputs.caCertPem).toContain(
            "read by cka001-cluster-ca-cert",
        );
    });
});

describe("stable identity", () => {
    // Custom resources only: components carry no state of their own.
    const snapshot = () =>
        recorded
            .filter((r) => !r.type.startsWith("calico:index:"))
            .map((r) => `${r.type}::${r.name}::${JSON.stringify(r.inputs)}`)
            .sort();

    test("reordering nodes and pools changes nothing", async () => {
        await buildProgram(resolvedConfig());
        const first = snapshot();
        const raw: any = labRaw();
        raw.nodes.reverse();
        raw.pools.reverse();
        await buildProgram(resolvedConfig(raw));
        expect(snapshot()).toEqual(first);
    });

    test("removing one node removes only that node's resources", async () => {
        await buildProgram(resolvedConfig());
        const all = snapshot();
        const raw: any = labRaw();
        raw.nodes = raw.nodes.filter((n: any) => n.name !== "cka002");
        await buildProgram(resolvedConfig(raw));
        // Typha's replica count follows the node count by design (issue 3), so its Deployment may change too.
        const typha = (r: string) => r.startsWith("kubernetes:apps/v1:Deployment::calico-typha::");
        const fewer = snapshot().filter((r) => !typha(r));
        const gone = all.filter((r) => !typha(r) && !fewer.includes(r));
        expect(fewer.every((r) => all.includes(r))).toBe(true);
        expect(gone.length).toBeGreaterThan(0);
        expect(gone.every((r) => r.split("::")[1].startsWith("cka002"))).toBe(true);
    });
});
