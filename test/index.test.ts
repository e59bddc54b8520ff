import { buildProgram, recorded, settle, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { APPLIED_OUTPUT } from "../components/builders/calicoctlApply";
import { POOLS_OUTPUT } from "../components/builders/ippool";
import { CRDS_FILE, TEST_CERT_PEM, TEST_KEY_PEM, resolvedConfig, runProgram } from "./fixtures";

// The real entry point: config goes through pulumi.Config exactly as `pulumi up` hands it over.
const plainConfig = {
    cluster: { podCidr: "10.244.0.0/16", apiServer: "https://10.0.0.10:6443", caCert: TEST_CERT_PEM },
    nodes: [{ name: "n1", address: "10.0.0.11" }],
    pools: [{ name: "pool-a", cidr: "10.244.0.0/18" }],
    cni: { localBinDir: __dirname },
    datastore: { crdsFile: CRDS_FILE },
};

test("a bad config fails before any resource is registered, listing every problem", async () => {
    const message =
        (
            await runProgram(
                {
                    ...plainConfig,
                    pools: [{ name: "p", cidr: "1.2.3.4/40" }],
                    cni: { mtu: 10, localBinDir: "/nonexistent" },
                    clusterCaKey: TEST_KEY_PEM,
                },
                ["calico:clusterCaKey"],
            )
        ).error ?? "";
    expect(message).toMatch(/^The calico stack config has \d+ problems:/);
    expect(message).toContain('calico:pools[p].cidr = "1.2.3.4/40"');
    expect(message).toContain("calico:cni.mtu = 10");
    expect(message).toContain("calico:sshPrivateKey = (unset)");
    expect(message).toContain('calico:cni.localBinDir = "/nonexistent"');
    expect(message).not.toContain(TEST_KEY_PEM.slice(40, 80));
    expect(recorded).toEqual([]);
});

test("a secret key set in plaintext is refused", async () => {
    const message =
        (await runProgram({ ...plainConfig, clusterCaKey: TEST_KEY_PEM, sshPrivateKey: TEST_KEY_PEM }, ["calico:sshPrivateKey"])).error ??
        "";
    expect(message).toContain("calico:clusterCaKey = <secret>: is stored in plaintext");
});

test("a valid config builds and exports its outputs, secrets as secrets", async () => {
    // Any existing files stand in for the binaries: only their sha256 matters to the program.
    const fs = await import("fs");
    const dir = fs.mkdtempSync(`${require("os").tmpdir()}/bins-`);
    for (const b of ["calico", "calico-ipam", "portmap", "loopback", "host-local"]) fs.writeFileSync(`${dir}/${b}`, b);
    // The real stager writes the upload under the user's cache; here a temp one.
    const cache = fs.mkdtempSync(`${require("os").tmpdir()}/cache-`);
    process.env.XDG_CACHE_HOME = cache;
    const run = await runProgram({ ...plainConfig, cni: { localBinDir: dir }, clusterCaKey: TEST_KEY_PEM, sshPrivateKey: TEST_KEY_PEM }, [
        "calico:clusterCaKey",
        "calico:sshPrivateKey",
    ]);
    expect(run.error).toBeUndefined();
    const mod = run.exports;
    await settle();
    expect(recorded.length).toBeGreaterThan(20);
    // The stack outputs index.ts exported as named exports before its main turned async, in that order.
    expect(Object.keys(mod)).toEqual([
        "calicoVersion",
        "pools",
        "nodes",
        "cniKubeconfig",
        "cniClientCert",
        "cniDelivery",
        "calicoctlConfig",
        "podMtu",
        "typhaServiceName",
        "typhaReplicas",
        "images",
        "ipAutodetectionMethod",
        "aliyunRouteTableId",
        "aliyunRoutes",
        "calicoctlApplied",
    ]);
    // Under the names the next run reads back (resources/previousOutputs.ts).
    expect(Object.keys(mod)).toEqual(expect.arrayContaining([POOLS_OUTPUT, APPLIED_OUTPUT]));
    expect(await valueOf(mod.pools)).toEqual([
        { name: "pool-a", cidr: "10.244.0.0/18", blockSize: 26, ipipMode: "Never", vxlanMode: "Never", natOutgoing: true, disabled: false },
    ]);
    expect(await valueOf(mod.nodes)).toEqual([{ name: "n1", address: "10.0.0.11" }]);
    await expect(pulumi.isSecret(pulumi.output(mod.cniKubeconfig))).resolves.toBe(true);
    expect(await valueOf(mod.calicoctlConfig)).toContain("datastoreType: kubernetes");
    const staged = await recorded.find((r) => r.name === "n1-cni-upload")?.inputs.source.path;
    expect(staged.startsWith(`${cache}/calico-hard-way/upload/`)).toBe(true);
    const sha = (s: string) => require("crypto").createHash("sha256").update(s).digest("hex");
    // The staged head is the kubeconfig up to the client certificate: public, named by its sha256.
    const kubeconfig: string = await valueOf(mod.cniKubeconfig);
    const head = kubeconfig.slice(0, kubeconfig.indexOf("client-certificate-data: ") + "client-certificate-data: ".length);
    expect(fs.readdirSync(staged).sort()).toEqual(
        [
            ...["calico", "calico-ipam", "portmap", "loopback", "host-local"].map((b) => `${sha(b)}.gz`),
            `${sha(head)}.head`,
            "install.sh",
            "uninstall.sh",
        ].sort(),
    );
    expect(fs.readFileSync(`${staged}/${sha(head)}.head`, "utf8")).toBe(head);
    for (const f of fs.readdirSync(staged)) expect(fs.readFileSync(`${staged}/${f}`, "utf8")).not.toMatch(/PRIVATE KEY|client-key-data/);
    // The install runs the staged script, which installs the staged binaries.
    const install = recorded.find((r) => r.name === "n1-cni-install");
    expect(install?.inputs.create).toContain(`.calico-cni-upload/${require("path").basename(staged)}/install.sh`);
    expect(fs.readFileSync(`${staged}/install.sh`, "utf8")).toContain(`put calico ${sha("calico")}`);
    expect(
        require("zlib")
            .gunzipSync(fs.readFileSync(`${staged}/${sha("portmap")}.gz`))
            .toString(),
    ).toBe("portmap");
    delete process.env.XDG_CACHE_HOME;
    // The stack exports are the component's outputs, not a list of their own.
    const calico = await buildProgram(resolvedConfig());
    expect(Object.keys(mod)).toEqual(Object.keys(calico.outputs));
});

test("realDir resolves a linked cni.localBinDir (the binaries are read through it, and no provider descends into a link)", () => {
    const fs = require("fs") as typeof import("fs");
    const { realDir } = require("../components/config/load") as typeof import("../components/config/load");
    const dir = fs.realpathSync(fs.mkdtempSync(`${require("os").tmpdir()}/bins-`));
    fs.mkdirSync(`${dir}/real`);
    fs.symlinkSync(`${dir}/real`, `${dir}/link`);
    expect(realDir(`${dir}/link`)).toBe(`${dir}/real`);
    expect(realDir(`${dir}/missing`)).toBe(`${dir}/missing`);
});
