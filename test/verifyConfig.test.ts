import { ConfigError } from "../components/config/problems";
import { PROBE_IMAGE_PATH } from "../components/versions";
import { parseArgs } from "../verify/args";
import { exitCode, renderJson, renderTable } from "../verify/report";
import type { ConfigEntry } from "../components/config/entries";
import { resolveFromEntries } from "../verify/stack";
import { result } from "../verify/types";
import { CRDS_FILE, TEST_CERT_PEM, fakeEnv, problemsOf, resolvedConfig } from "./fixtures";

describe("verify's config keys", () => {
    test("defaults: the probe image under calico:registry, Typha metrics on 9093", () => {
        const cfg = resolvedConfig();
        expect(cfg.verify).toEqual({
            probeImage: `quay.io/${PROBE_IMAGE_PATH}`,
            namespace: "calico-verify",
            sampleNodes: 10,
            timeoutSeconds: 120,
            perfSeconds: 5,
        });
        expect(cfg.typha.metricsPort).toBe(9093);
        const mirror = resolvedConfig({ ...(require("./fixtures").labRaw() as object), registry: "quay.m.daocloud.io" });
        expect(mirror.verify.probeImage).toBe(`quay.m.daocloud.io/${PROBE_IMAGE_PATH}`);
    });

    test.each([
        [
            "every verify key out of range at once",
            (raw: any) => {
                raw.verify = { probeImage: "quay.io/x y", namespace: "Calico_Verify", sampleNodes: 1, timeoutSeconds: 5, perfSeconds: 0 };
            },
            [
                'calico:verify.probeImage = "quay.io/x y": has white space; give one image reference, e.g. quay.io/submariner/nettest:0.24.0.',
                "calico:verify.namespace = \"Calico_Verify\": is not a Kubernetes namespace name; use lower-case letters, digits and '-', e.g. calico-verify.",
                "calico:verify.sampleNodes = 1: is out of range; use 2-12 (each probe's results must fit its 4 KiB termination message).",
                "calico:verify.timeoutSeconds = 5: is out of range; use 10-1800 seconds.",
                "calico:verify.perfSeconds = 0: is out of range; use 1-60 seconds per iperf3 run.",
            ],
        ],
        [
            "a shared namespace",
            (raw: any) => {
                raw.verify = { namespace: "kube-system" };
            },
            [
                'calico:verify.namespace = "kube-system": is a namespace verify would share with other workloads; use one of its own, e.g. calico-verify.',
            ],
        ],
        [
            "Typha's metrics on its own port",
            (raw: any) => {
                raw.typha = { metricsPort: 5473 };
            },
            [
                "calico:typha.metricsPort = 5473: is not a free unprivileged port; use 1024-65535 other than 5473 and 9098 (Typha's own), or 0 to turn the metrics off.",
            ],
        ],
        [
            "an unknown verify key",
            (raw: any) => {
                raw.verify = { sample: 3 };
            },
            ["calico:verify.sample = 3: is not a known key; check its spelling against the config reference (docs/configuration.md)."],
        ],
    ])("%s", (_n, mutate, expected) => {
        expect(problemsOf(mutate)).toEqual(expected);
    });

    test("metrics off and the largest sample are valid", () => {
        expect(
            problemsOf((raw) => {
                raw.typha = { metricsPort: 0 };
                raw.verify = { sampleNodes: 12 };
            }),
        ).toEqual([]);
    });
});

/** `pulumi config --json` of the lab, without --show-secrets: secret entries carry no value. */
function labEntries(): Record<string, ConfigEntry> {
    const json = (v: unknown) => ({ value: JSON.stringify(v), secret: false });
    return {
        "calico:cluster": json({ podCidr: "10.244.0.0/16", apiServer: "https://172.16.0.11:6443", caCert: TEST_CERT_PEM }),
        "calico:nodes": json([
            { name: "cka001", address: "172.16.0.11" },
            { name: "cka002", address: "172.16.0.12" },
        ]),
        "calico:pools": json([{ name: "ipv4-ippool-1", cidr: "10.244.0.0/18" }]),
        "calico:cni": json({ localBinDir: "./cni-bin" }),
        "calico:datastore": json({ crdsFile: CRDS_FILE }),
        "calico:registry": { value: "quay.m.daocloud.io", secret: false },
        "calico:clusterCaKey": { secret: true },
        "calico:sshPrivateKeys": { secret: true },
        "kubernetes:kubeconfig": { secret: true },
    };
}

describe("the stack config as verify reads it (no secret values)", () => {
    test("resolves through the program's validator, secrets checked for presence only", () => {
        const cfg = resolveFromEntries(labEntries(), fakeEnv);
        expect(cfg.nodes.map((n) => n.name)).toEqual(["cka001", "cka002"]);
        expect(cfg.verify.probeImage).toBe(`quay.m.daocloud.io/${PROBE_IMAGE_PATH}`);
    });

    test("reports the same problems the program would, every one at once", () => {
        const e = labEntries();
        delete e["calico:clusterCaKey"];
        e["calico:sshPrivateKey"] = { value: "plain", secret: false };
        e["calico:verify"] = { value: JSON.stringify({ sampleNodes: 99 }), secret: false };
        let err: unknown;
        try {
            resolveFromEntries(e, fakeEnv);
        } catch (x) {
            err = x;
        }
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems.map((p) => p.key)).toEqual(["sshPrivateKey", "clusterCaKey", "verify.sampleNodes"]);
    });

    test("a non-secret key set as secret is named, since verify never asks for secret values", () => {
        const e = labEntries();
        e["calico:pools"] = { secret: true };
        expect(() => resolveFromEntries(e, fakeEnv)).toThrow(
            "calico:pools: set as secret; verify reads the config without secrets, so set it in plaintext (they are not secret keys).",
        );
    });
});

describe("arguments", () => {
    test.each([
        [["--stack", "sandbox", "--json", "--perf"], { ok: true, args: { stack: "sandbox", json: true, perf: true, help: false } }],
        [
            ["--stack=dev", "--config-file", "/tmp/c.yaml", "--sample", "4"],
            { ok: true, args: { stack: "dev", configFile: "/tmp/c.yaml", json: false, perf: false, help: false, sample: 4 } },
        ],
        [["--sample", "1"], { ok: false, error: "--sample 1: give a whole number of nodes, at least 2" }],
        [["--stack"], { ok: false, error: "--stack needs a value" }],
        [["--bogus"], { ok: false, error: "unknown argument --bogus" }],
    ])("%j", (argv, expected) => {
        expect(parseArgs(argv)).toEqual(expected);
    });
});

describe("report", () => {
    const results = [
        result("calico-node", "pass", "3/3 nodes with calico-node Ready"),
        result("BGP", "fail", "4/6 sessions Established on 3/3 nodes", ["n1 -> 172.30.0.12 (NodeMesh): Active"], "open TCP 179."),
        result("Typha", "skip", "Typha is not deployed"),
    ];
    test("a table of check, status and figures, then each failure with its fix; non-zero exit on a failure", () => {
        expect(renderTable(results)).toBe(
            [
                "check        status  figures",
                "-----------  ------  -------",
                "calico-node  PASS    3/3 nodes with calico-node Ready",
                "BGP          FAIL    4/6 sessions Established on 3/3 nodes",
                "Typha        SKIP    Typha is not deployed",
                "",
                "BGP: fail",
                "  - n1 -> 172.30.0.12 (NodeMesh): Active",
                "  fix: open TCP 179.",
                "",
                "verify: 1 passed, 1 failed, 0 warned, 1 skipped",
            ].join("\n"),
        );
        expect(exitCode(results)).toBe(1);
        expect(exitCode([results[0]!, results[2]!, result("IPAM", "warn", "x")])).toBe(0);
    });

    test("--json: one document, sorted keys", () => {
        const doc = JSON.parse(renderJson("sandbox", results));
        expect(Object.keys(doc)).toEqual(["checks", "ok", "stack"]);
        expect(doc.ok).toBe(false);
        expect(Object.keys(doc.checks[1])).toEqual(["details", "figures", "fix", "name", "status"]);
    });
});
