import * as pulumi from "@pulumi/pulumi";
import { type ConfigEntry, NAMESPACE, rawInput } from "../components/config/entries";
import { engineEntries } from "../components/config/load";
import { resolveFromEntries } from "../verify/stack";
import { CRDS_FILE, TEST_CERT_PEM, TEST_KEY_PEM, fakeEnv } from "./fixtures";

/** The lab's entries as `pulumi config --json --show-secrets` lists them: every value, secret or not. */
function shownEntries(): Record<string, ConfigEntry> {
    const json = (v: unknown) => ({ value: JSON.stringify(v), secret: false });
    return {
        [`${NAMESPACE}:cluster`]: json({ podCidr: "10.244.0.0/16", apiServer: "https://172.16.0.11:6443", caCert: TEST_CERT_PEM }),
        [`${NAMESPACE}:nodes`]: json([
            { name: "cka001", address: "172.16.0.11" },
            { name: "cka002", address: "172.16.0.12" },
        ]),
        [`${NAMESPACE}:pools`]: json([{ name: "ipv4-ippool-1", cidr: "10.244.0.0/18" }]),
        [`${NAMESPACE}:cni`]: json({ localBinDir: "./cni-bin" }),
        [`${NAMESPACE}:datastore`]: json({ crdsFile: CRDS_FILE }),
        [`${NAMESPACE}:registry`]: { value: "quay.m.daocloud.io", secret: false },
        [`${NAMESPACE}:typha`]: json({ replicas: 2 }),
        [`${NAMESPACE}:clusterCaKey`]: { value: TEST_KEY_PEM, secret: true },
        [`${NAMESPACE}:sshPrivateKeys`]: { value: JSON.stringify({ cka001: TEST_KEY_PEM }), secret: true },
        // Set in plaintext: both readers must report it.
        [`${NAMESPACE}:sshPrivateKey`]: { value: TEST_KEY_PEM, secret: false },
        "alicloud:secretKey": { value: "s3cr3t", secret: true },
        "kubernetes:kubeconfig": { value: "apiVersion: v1", secret: true },
    };
}

/** Sets the engine's config from entries, as the language host hands it to the program. */
function setEngineConfig(entries: Record<string, ConfigEntry>): void {
    const values = Object.fromEntries(Object.entries(entries).map(([k, e]) => [k, e.value!]));
    const secretKeys = Object.entries(entries)
        .filter(([, e]) => e.secret)
        .map(([k]) => k);
    pulumi.runtime.setAllConfig(values, secretKeys);
}

describe("one reader for the program and verify (config/entries.ts)", () => {
    test("the engine's config and `pulumi config --json` of the same stack give the same raw input", () => {
        setEngineConfig(shownEntries());
        expect(engineEntries()).toEqual(shownEntries());
        const fromEngine = rawInput(engineEntries());
        expect(fromEngine).toEqual(rawInput(shownEntries()));
        expect(fromEngine.raw).toEqual({
            cluster: { podCidr: "10.244.0.0/16", apiServer: "https://172.16.0.11:6443", caCert: TEST_CERT_PEM },
            nodes: [
                { name: "cka001", address: "172.16.0.11" },
                { name: "cka002", address: "172.16.0.12" },
            ],
            pools: [{ name: "ipv4-ippool-1", cidr: "10.244.0.0/18" }],
            cni: { localBinDir: "./cni-bin" },
            datastore: { crdsFile: CRDS_FILE },
            registry: "quay.m.daocloud.io",
            typha: { replicas: 2 },
        });
        expect(fromEngine.secrets).toEqual({
            clusterCaKey: TEST_KEY_PEM,
            sshPrivateKey: TEST_KEY_PEM,
            sshPrivateKeys: { cka001: TEST_KEY_PEM },
            alicloudAccessKey: undefined,
            alicloudSecretKey: "s3cr3t",
        });
        expect(fromEngine.plaintextSecretKeys).toEqual(["sshPrivateKey"]);
    });

    test("verify's entries (secret values withheld) differ only in the secrets' values, which stand in as set", () => {
        const hidden = Object.fromEntries(Object.entries(shownEntries()).map(([k, e]) => [k, e.secret ? { secret: true } : e])) as Record<
            string,
            ConfigEntry
        >;
        const shown = rawInput(shownEntries());
        const fromVerify = rawInput(hidden);
        expect(fromVerify.raw).toEqual(shown.raw);
        expect(fromVerify.plaintextSecretKeys).toEqual(shown.plaintextSecretKeys);
        expect(fromVerify.secrets).toEqual({
            clusterCaKey: "",
            sshPrivateKey: TEST_KEY_PEM,
            sshPrivateKeys: {},
            alicloudAccessKey: undefined,
            alicloudSecretKey: undefined,
        });
    });

    test("both readers resolve the same stack to the same non-secret config", () => {
        const entries = shownEntries();
        delete entries[`${NAMESPACE}:sshPrivateKey`];
        const hidden = Object.fromEntries(Object.entries(entries).map(([k, e]) => [k, e.secret ? { secret: true } : e])) as Record<
            string,
            ConfigEntry
        >;
        const fromVerify = resolveFromEntries(hidden, fakeEnv);
        const fromProgram = resolveFromEntries(entries, fakeEnv);
        for (const key of ["pools", "typha", "images", "verify", "cniBinaries", "datastore"] as const)
            expect(fromVerify[key]).toEqual(fromProgram[key]);
        expect(fromVerify.nodes.map((n) => n.name)).toEqual(fromProgram.nodes.map((n) => n.name));
    });
});
