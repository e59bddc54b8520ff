import {
    buildProgram,
    byType,
    calls,
    find,
    installedFile,
    installedConflist,
    installedFiles,
    installFrames,
    isSecretOutput,
    kubernetesObjects,
    plain,
    recorded,
    recordedOpts,
    stagedDir,
    stagedPlans,
    stagedScript,
    valueOf,
    withoutPreflightPeers,
} from "./harness";
import { createHash } from "crypto";
import { parse } from "yaml";
import { REFERENCE_CRD_NAMES } from "./crdSchema";
import { Calico } from "../components/calico";
import { CERT_SPECS } from "../components/builders/certs";
import { TEST_CERT_PEM, fakeEnv, labRaw, labSecrets, resolvedConfig } from "./fixtures";
import { dataplaneCleanupScript } from "../components/builders/dataplaneCleanup";
import { asRoot, cniInstallScript, cniUninstallScript, hostUninstallPath } from "../components/builders/hostScripts";
import { INSTALL_SCRIPT, UNINSTALL_SCRIPT, hostBundle, hostDeleteCommand, hostInstallCommand } from "../components/builders/hostBundle";
import { preflightChecks, preflightChecksPlan, preflightPlan } from "../components/builders/preflight";
import { CNI_HOST_RECORD, CNI_UPLOAD_DIR } from "../components/facts/names";

const CMD = "command:remote:Command";
/** The lab's binaries, sorted by name, all from cni.localBinDir. */
const BINS = ["calico", "calico-ipam", "host-local", "loopback", "portmap"];
const binSha = (name: string) => fakeEnv.fileSha256(`./cni-bin/${name}`)!;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
/** The lab's staged scripts (builders/hostBundle.ts), by name. */
const LAB_SCRIPTS = hostBundle({
    binDir: "/opt/cni/bin",
    confDir: "/etc/cni/net.d",
    binaries: resolvedConfig().cniBinaries,
    extraPaths: [],
    preflight: preflightChecksPlan(resolvedConfig()),
    afterInstall: "",
});
/** The lab's CNI kubeconfig up to the client certificate's value: server, cluster CA, names (builders/kubeconfig.ts). */
const LAB_HEAD = [
    "apiVersion: v1",
    "clusters:",
    "  - cluster:",
    `      certificate-authority-data: ${Buffer.from(TEST_CERT_PEM).toString("base64")}`,
    "      server: https://172.16.0.11:6443",
    "    name: kubernetes",
    "contexts:",
    "  - context:",
    "      cluster: kubernetes",
    "      user: calico-cni",
    "    name: cni@kubernetes",
    "current-context: cni@kubernetes",
    "kind: Config",
    "preferences: {}",
    "users:",
    "  - name: calico-cni",
    "    user:",
    "      client-certificate-data: ",
].join("\n");
/** The lab's upload digest: over every local binary's name and sha256, each script's, then the head's (builders/upload.ts). */
const DIGEST = sha256(
    [
        ...BINS.map((b) => `${b} ${binSha(b)}\n`),
        ...LAB_SCRIPTS.map((x) => `${x.name} ${sha256(x.content)}\n`),
        `${sha256(LAB_HEAD)}.head ${sha256(LAB_HEAD)}\n`,
    ].join(""),
);

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
        // The CNI key rides in every node's kubeconfig (and so in every node's state): ECDSA P-256 by default.
        expect(Object.fromEntries(byType("tls:index/privateKey:PrivateKey").map((k) => [k.name, k.inputs]))).toEqual({
            "pki-cni-client-key": { algorithm: "ECDSA", ecdsaCurve: "P256" },
            "pki-node-client-key": { algorithm: "RSA", rsaBits: 2048 },
            "pki-typha-ca-key": { algorithm: "RSA", rsaBits: 2048 },
            "pki-typha-server-key": { algorithm: "RSA", rsaBits: 2048 },
        });
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
        // The pools depend on the CRDs themselves, not the Datastore component (its CRDs register after the pools
        // are prepared), so create waits for them and destroy deletes the pools first. The component holds none.
        for (const pool of ["ippool-ipv4-ippool-1", "ippool-ipv4-ippool-2"]) {
            expect([...(recordedOpts.find((o) => o.name === pool)?.dependsOn ?? [])].sort()).toEqual([...REFERENCE_CRD_NAMES].sort());
        }
        expect(recordedOpts.find((o) => o.name === "ip-pools")?.dependsOn ?? []).toEqual([]);
        const crds = byType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition");
        expect(crds.map((c) => c.inputs.metadata.name).sort()).toEqual([...REFERENCE_CRD_NAMES].sort());
    });

    test("every Calico custom resource and workload depends on the CRDs itself; objects that read nothing do not", () => {
        const depsOf = (r: { name: string; type: string }) =>
            recordedOpts.find((o) => o.name === r.name && o.type === r.type)?.dependsOn ?? [];
        const needCrds = recorded.filter(
            (r) => r.type.startsWith("kubernetes:crd.projectcalico.org") || r.type.startsWith("kubernetes:apps/v1"),
        );
        expect(needCrds.map((r) => r.type.split(":")[1]).sort()).toEqual([
            "apps/v1",
            "apps/v1",
            "apps/v1",
            "crd.projectcalico.org/v1",
            "crd.projectcalico.org/v1",
            "crd.projectcalico.org/v1",
        ]);
        for (const r of needCrds)
            expect({
                name: r.name,
                crds: depsOf(r)
                    .filter((d) => REFERENCE_CRD_NAMES.includes(d))
                    .sort(),
            }).toEqual({ name: r.name, crds: [...REFERENCE_CRD_NAMES].sort() });
        // RBAC, ServiceAccounts, Secrets, ConfigMaps, Services and PDBs: no CRD among their dependencies (state per dependency).
        const plainObjects = recorded.filter((r) => /^kubernetes:(core\/v1|rbac\.authorization\.k8s\.io\/v1|policy\/v1):/.test(r.type));
        expect(plainObjects.length).toBeGreaterThan(10);
        for (const r of plainObjects)
            expect({ name: r.name, crds: depsOf(r).filter((d) => REFERENCE_CRD_NAMES.includes(d)) }).toEqual({ name: r.name, crds: [] });
    });

    test("calico-node starts after its pools and never creates Calico's default pool", () => {
        const ds = recordedOpts.find((o) => o.type === "kubernetes:apps/v1:DaemonSet" && o.name === "calico-node");
        expect(ds?.dependsOn).toContain("ip-pools");
        const env = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0].env;
        expect(env).toContainEqual({ name: "NO_DEFAULT_POOLS", value: "true" });
        expect(env.map((e: any) => e.name)).not.toContain("CALICO_IPV4POOL_CIDR");
    });

    test("each node's install deletes its files, then clears the dataplane; calico-node depends on no node", () => {
        for (const node of ["cka001", "cka002", "cka003"]) {
            // The uninstall the host's install left beside its record, with every path it wrote.
            const install = find(CMD, `${node}-cni-install`);
            expect(install.inputs.delete).toBe(asRoot(hostDeleteCommand(), "root"));
            expect(install.inputs.delete).toContain(hostUninstallPath(CNI_HOST_RECORD));
            // Create-before-delete would let the old delete remove what the new create wrote.
            expect(recordedOpts.find((o) => o.name === `${node}-cni-install`)?.deleteBeforeReplace).toBe(true);
        }
        expect(stagedScript(UNINSTALL_SCRIPT)).toBe(
            `set -eu\n${cniUninstallScript(
                ["/etc/cni/net.d/10-calico.conflist", "/etc/cni/net.d/calico-kubeconfig", ...BINS.map((b) => `/opt/cni/bin/${b}`)],
                CNI_HOST_RECORD,
                CNI_UPLOAD_DIR,
            )}\n${dataplaneCleanupScript()}\n`,
        );
        // A node that is down must not hold up a DaemonSet update; on destroy, the cleanup waits for
        // calico-node to stop on its host instead.
        const ds = recordedOpts.find((o) => o.type === "kubernetes:apps/v1:DaemonSet" && o.name === "calico-node")!;
        expect(ds.dependsOn.filter((d) => d.startsWith("cka"))).toEqual([]);
    });

    test("components that only group children register no inputs, so a change shows once in preview", () => {
        for (const type of ["calico:index:IpPools", "calico:index:Cni", "calico:index:Bgp"]) {
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

    test("each node has two resources for SSH delivery: the upload of the binaries and the install", async () => {
        const perNode = recorded.filter((r) => /^cka00\d-/.test(r.name) && !r.type.startsWith("calico:index:"));
        expect(perNode.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
            ["cka001", "cka002", "cka003"]
                .flatMap((n) => [`command:remote:CopyToRemote ${n}-cni-upload`, `${CMD} ${n}-cni-install`])
                .sort(),
        );
        for (const node of ["cka001", "cka002", "cka003"]) {
            const upload = find("command:remote:CopyToRemote", `${node}-cni-upload`);
            expect(upload.inputs.remotePath).toBe(CNI_UPLOAD_DIR);
            expect(await upload.inputs.source.path).toBe(stagedDir(DIGEST));
            expect(upload.inputs.triggers).toEqual([DIGEST]);
            expect(recordedOpts.find((o) => o.name === `${node}-cni-install`)?.dependsOn).toEqual([`${node}-cni-upload`]);
        }
    });

    test("stages one upload for every node: each configured binary's content once, from cni.localBinDir", () => {
        // The lab's fake sha256s differ per name, so every binary is its own file here (hostScripts.test
        // shows one content installed under two names).
        expect(stagedPlans).toEqual([
            {
                digest: DIGEST,
                files: BINS.map((b) => ({ sha256: binSha(b), from: `./cni-bin/${b}` })).sort((a, b) => a.sha256.localeCompare(b.sha256)),
                scripts: LAB_SCRIPTS,
                heads: [{ sha256: sha256(LAB_HEAD), content: LAB_HEAD }],
            },
        ]);
    });

    test("each node's stdin holds the kubeconfig from the client certificate on; the cluster CA comes from the upload", async () => {
        const kubeconfig = await valueOf(calico.cni.kubeconfig!);
        for (const node of ["cka001", "cka002", "cka003"]) {
            const [kc, conflist, ...more] = installFrames(node);
            expect(more).toEqual([]);
            expect(conflist!.head).toBe("-");
            expect(kc).toEqual({
                path: "/etc/cni/net.d/calico-kubeconfig",
                mode: "0600",
                head: sha256(LAB_HEAD),
                content: kubeconfig.slice(LAB_HEAD.length),
            });
            expect(kubeconfig.startsWith(LAB_HEAD)).toBe(true);
            expect(kc!.content).not.toContain(Buffer.from(TEST_CERT_PEM).toString("base64"));
            expect(kc!.content).toMatch(/^\S+\n      client-key-data: \S+\n$/);
        }
    });

    test("the install runs the host preflight first, checks every binary's sha256 and reads every file from stdin, the conflist last", () => {
        // One script for every node, staged: the preflight, then the uninstall put in place, then the install.
        const script = stagedScript(INSTALL_SCRIPT);
        const parts = [
            preflightChecks(preflightChecksPlan(resolvedConfig())),
            `${hostUninstallPath(CNI_HOST_RECORD)}.tmp`,
            cniInstallScript({
                binDir: "/opt/cni/bin",
                binaries: BINS.map((name) => ({ name, source: "local", sha256: binSha(name) })),
                recordPath: CNI_HOST_RECORD,
                ownerPath: "/etc/cni/net.d/calico-kubeconfig",
            }),
        ].map((p) => script.indexOf(p));
        expect(parts.every((at) => at > 0)).toBe(true);
        expect([...parts].sort((a, b) => a - b)).toEqual(parts);
        for (const node of ["cka001", "cka002", "cka003"]) {
            const install = find(CMD, `${node}-cni-install`);
            // Each node runs it from its upload, with its own name (and preflight peers) as arguments.
            expect(install.inputs.create).toBe(
                asRoot(hostInstallCommand(`${CNI_UPLOAD_DIR}/${DIGEST.slice(0, 16)}`, preflightPlan(resolvedConfig(), node)), "root"),
            );
            expect(install.inputs.create).toContain(`'\\''${node}'\\''`);
            expect(install.inputs.logging).toBe("stderr");
            const files = installedFiles(node);
            expect(files.map((f) => [f.path, f.mode])).toEqual([
                ["/etc/cni/net.d/calico-kubeconfig", "0600"],
                ["/etc/cni/net.d/10-calico.conflist", "0644"],
            ]);
            expect(JSON.parse(files[1]!.content).plugins[0].nodename).toBe(node);
            expect(files[0]!.content).toContain("client-key-data");
            // Content travels on stdin, never on the command line.
            expect(install.inputs.create).not.toContain("k8s-pod-network");
            expect(install.inputs.create).not.toContain("client-key-data");
        }
    });

    test("the kubeconfig path in each conflist is the file that is written", () => {
        const conflist = JSON.parse(installedFile("cka002", "/etc/cni/net.d/10-calico.conflist").content);
        const path = conflist.plugins[0].kubernetes.kubeconfig;
        expect(path).toBe("/etc/cni/net.d/calico-kubeconfig");
        expect(installedFile("cka002", path).mode).toBe("0600");
    });

    test("the CNI kubeconfig uses the cluster CA, the API server and context cni@kubernetes", async () => {
        const text = await valueOf(calico.cni.kubeconfig!);
        const kc = parse(text);
        expect(kc["current-context"]).toBe("cni@kubernetes");
        expect(kc.clusters[0].cluster.server).toBe("https://172.16.0.11:6443");
        expect(Buffer.from(kc.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(TEST_CERT_PEM);
        expect(kc.users[0].name).toBe("calico-cni");
        expect(Buffer.from(kc.users[0].user["client-key-data"], "base64").toString()).toContain("key-of-pki-cni-client-key");
    });

    test("secrets stay secret: keys, kubeconfig, the CA key", async () => {
        expect(await isSecretOutput(calico.cni.kubeconfig!)).toBe(true);
        expect(await isSecretOutput(calico.pki.cni!.keyPem)).toBe(true);
        expect(await isSecretOutput(calico.pki.typha.keyPem)).toBe(true);
        expect(await isSecretOutput(calico.pki.node.keyPem)).toBe(true);
        expect(await isSecretOutput(calico.outputs.cniKubeconfig as any)).toBe(true);
    });

    test("the cniClientCert output is the CNI client certificate, public and without a key", async () => {
        expect(await isSecretOutput(calico.outputs.cniClientCert as any)).toBe(false);
        expect(await valueOf(calico.outputs.cniClientCert)).toBe(await valueOf(calico.pki.cni!.certPem));
        expect(await valueOf(calico.outputs.cniClientCert)).not.toContain("PRIVATE KEY");
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
        // The real command provider sends a command's last stdout as an SSH env request on update unless told not to.
        expect(find(CMD, "cka001-cluster-ca-key").inputs.addPreviousOutputInEnv).toBe(false);
        expect(find(CMD, "cka001-cluster-ca-cert").inputs.addPreviousOutputInEnv).toBe(false);
        // No agent socket in the inputs: the provider takes SSH_AUTH_SOCK from its environment (and fails on an empty one).
        expect(Object.keys(plain(find(CMD, "cka001-cluster-ca-key").inputs.connection)).sort()).toEqual([
            "dialErrorLimit",
            "host",
            "perDialTimeout",
            "port",
            "privateKey",
            "user",
        ]);
        expect(find("tls:index/locallySignedCert:LocallySignedCert", "pki-cni-client-cert").inputs.caCertPem).toContain(
            "read by cka001-cluster-ca-cert",
        );
        // The upload is staged once the CA is read: its head holds that CA, and every node uploads and runs that folder.
        const caPem = find("tls:index/locallySignedCert:LocallySignedCert", "pki-cni-client-cert").inputs.caCertPem;
        expect(stagedPlans.map((p) => p.heads.map((h) => h.content.includes(Buffer.from(caPem).toString("base64"))))).toEqual([[true]]);
        const digest = stagedPlans[0]!.digest;
        for (const node of ["cka001", "cka002", "cka003"]) {
            expect(find("command:remote:CopyToRemote", `${node}-cni-upload`).inputs.triggers).toEqual([digest]);
            expect(find(CMD, `${node}-cni-install`).inputs.create).toContain(`${CNI_UPLOAD_DIR}/${digest.slice(0, 16)}/install.sh`);
            expect(installedFile(node, "/etc/cni/net.d/calico-kubeconfig").content.startsWith(stagedPlans[0]!.heads[0]!.content)).toBe(
                true,
            );
        }
    });
});

test("through the SSH agent: neither a key nor a socket path in any connection", async () => {
    const raw: any = labRaw();
    raw.ssh = { ...raw.ssh, useAgent: true };
    const secrets: any = labSecrets();
    delete secrets.sshPrivateKey;
    await buildProgram(resolvedConfig(raw, secrets));
    const connections = recorded.filter((r) => r.type.startsWith("command:")).map((r) => Object.keys(plain(r.inputs.connection)).sort());
    expect(connections.length).toBeGreaterThan(0);
    for (const keys of connections) expect(keys).toEqual(["dialErrorLimit", "host", "perDialTimeout", "port", "user"]);
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

    /** type::name of what differs between two snapshots. */
    const changed = (a: string[], b: string[]) =>
        [...a.filter((r) => !b.includes(r)), ...b.filter((r) => !a.includes(r))].map((r) => r.split("::").slice(0, 2).join("::"));

    test("one node's own change (its SSH port) touches only that node's two resources", async () => {
        await buildProgram(resolvedConfig());
        const first = snapshot();
        const raw: any = labRaw();
        raw.nodes[1].port = 2222;
        await buildProgram(resolvedConfig(raw));
        expect([...new Set(changed(first, snapshot()))].sort()).toEqual([
            `${CMD}::cka002-cni-install`,
            "command:remote:CopyToRemote::cka002-cni-upload",
        ]);
    });

    test("an MTU change re-runs each node's install, through its stdin only, and uploads nothing", async () => {
        await buildProgram(resolvedConfig());
        const before = Object.fromEntries(byType(CMD).map((r) => [r.name, r.inputs]));
        const first = snapshot().filter((r) => /::cka00\d-cni-/.test(r));
        const raw: any = labRaw();
        raw.cni = { ...raw.cni, mtu: 1400 };
        await buildProgram(resolvedConfig(raw));
        const nodes = ["cka001", "cka002", "cka003"];
        const now = snapshot().filter((r) => /::cka00\d-cni-/.test(r));
        expect([...new Set(changed(first, now))].sort()).toEqual(nodes.map((n) => `${CMD}::${n}-cni-install`));
        for (const n of nodes) {
            const install = find(CMD, `${n}-cni-install`).inputs;
            expect(install.create).toBe(before[`${n}-cni-install`]!.create);
            expect(installedConflist(n).plugins[0].mtu).toBe(1400);
        }
    });

    test("a new binary changes each node's upload trigger and install script, and nothing else", async () => {
        await buildProgram(resolvedConfig());
        const first = snapshot();
        const env = { ...fakeEnv, fileSha256: (p: string) => (p.endsWith("/portmap") ? "f".repeat(64) : fakeEnv.fileSha256(p)) };
        await buildProgram(resolvedConfig(labRaw(), undefined, env));
        const nodes = ["cka001", "cka002", "cka003"];
        expect([...new Set(changed(first, snapshot()))].sort()).toEqual(
            nodes.flatMap((n) => [`${CMD}::${n}-cni-install`, `command:remote:CopyToRemote::${n}-cni-upload`]).sort(),
        );
        expect(stagedScript(INSTALL_SCRIPT)).toContain(`put portmap ${"f".repeat(64)}`);
    });

    test("removing one node removes only that node's resources", async () => {
        await buildProgram(resolvedConfig());
        const all = snapshot();
        const raw: any = labRaw();
        raw.nodes = raw.nodes.filter((n: any) => n.name !== "cka002");
        await buildProgram(resolvedConfig(raw));
        // Typha's replica count follows the node count by design, so its Deployment may change too.
        const typha = (r: string) => r.startsWith("kubernetes:apps/v1:Deployment::calico-typha::");
        const fewer = snapshot().filter((r) => !typha(r));
        const gone = all.filter((r) => !typha(r) && !fewer.includes(r));
        expect(fewer.every((r) => all.includes(r))).toBe(true);
        expect(gone.length).toBeGreaterThan(0);
        expect(gone.every((r) => r.split("::")[1].startsWith("cka002"))).toBe(true);
    });

    test("with cni.preflightBgpPeers the others' installs change only in the peers their preflight checks", async () => {
        const on = () => {
            const raw: any = labRaw();
            raw.cni.preflightBgpPeers = true;
            return raw;
        };
        await buildProgram(resolvedConfig(on()));
        const before = Object.fromEntries(byType(CMD).map((r) => [r.name, r.inputs]));
        const peerless = () => snapshot().map((r) => (r.startsWith(`${CMD}::`) ? withoutPreflightPeers(r) : r));
        const all = peerless();
        const raw = on();
        raw.nodes = raw.nodes.filter((n: any) => n.name !== "cka002");
        await buildProgram(resolvedConfig(raw));
        const typha = (r: string) => r.startsWith("kubernetes:apps/v1:Deployment::calico-typha::");
        const fewer = peerless().filter((r) => !typha(r));
        expect(fewer.every((r) => all.includes(r))).toBe(true);
        for (const n of ["cka001", "cka003"]) {
            expect(before[`${n}-cni-install`]!.create).toContain("cka002=172.16.0.12");
            expect(find(CMD, `${n}-cni-install`).inputs.create).not.toContain("cka002=");
        }
    });
});

describe("pki.cniKeyAlgorithm RSA", () => {
    test("gives the CNI client an RSA key of pki.rsaBits; the Typha keys stay as they were", async () => {
        const raw: any = labRaw();
        raw.pki = { cniKeyAlgorithm: "RSA", rsaBits: 3072 };
        await buildProgram(resolvedConfig(raw));
        expect(Object.fromEntries(byType("tls:index/privateKey:PrivateKey").map((k) => [k.name, k.inputs]))).toEqual({
            "pki-cni-client-key": { algorithm: "RSA", rsaBits: 3072 },
            "pki-node-client-key": { algorithm: "RSA", rsaBits: 3072 },
            "pki-typha-ca-key": { algorithm: "RSA", rsaBits: 3072 },
            "pki-typha-server-key": { algorithm: "RSA", rsaBits: 3072 },
        });
    });
});
