/**
 * `npm run bench`: builds the whole program under the test mocks for 3, 100 and 1000 nodes and prints
 * wall and CPU time, peak RSS, the heap retained after GC and the number of registered resources. Each
 * size runs in its own child process, so peak RSS belongs to that size alone. `npm run bench -- 3 50`
 * picks other sizes; `npm run bench -- --delivery daemonset` measures `cni.delivery: daemonset` (the
 * nodes are still listed, as a stack with per-node settings would list them).
 */
import { spawnSync } from "child_process";

const DEFAULT_SIZES = [3, 100, 1000];

interface Sample {
    nodes: number;
    resources: number;
    kubernetes: number;
    buildMs: number;
    /** User + system CPU of the build: unlike wall time, not inflated by other load on the machine. */
    cpuMs: number;
    peakRssMb: number;
    /** Heap still reachable after a full GC: what the program retains, apart from garbage V8 has not collected yet. */
    retainedMb: number;
    /** Per-node resources' inputs plus outputs as JSON, per node: what each node adds to the state file. */
    stateBytesPerNode: number;
}

/** Base64 sizes of real PEMs (RSA-2048 key, ECDSA P-256 key, certificate), so kubeconfigs and SSH keys in the state are real-sized. */
const REAL_PEM = { key: 1600, ecKey: 164, cert: 1100 };

/** Child: one build, one JSON line on stdout. Mocks load first, as in the tests. */
async function measure(nodes: number, delivery: string): Promise<Sample> {
    const harness = await import("../test/harness");
    const { labRaw, labSecrets, resolvedConfig } = await import("../test/fixtures");
    const { Calico } = await import("../components/calico");
    const { readPreviousOutputs } = await import("../components/resources/previousOutputs");
    // As index.ts does, so the bench measures what `pulumi up` runs.
    (await import("../components/promiseStacks")).skipUnreadPromiseStacks();
    const { generateKeyPairSync } = await import("crypto");
    Object.assign(harness.PEM_SIZES, REAL_PEM);
    const raw: any = labRaw();
    raw.cluster.caCert = `-----BEGIN CERTIFICATE-----\n${"A".repeat(REAL_PEM.cert)}\n-----END CERTIFICATE-----\n`;
    const sshKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    // Addresses from 10.0.0.0/16 onwards; names sort in node order.
    raw.nodes = Array.from({ length: nodes }, (_, i) => ({
        name: `node-${String(i + 1).padStart(4, "0")}`,
        address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    }));
    if (delivery === "daemonset") {
        raw.cni = { delivery };
        delete raw.cluster.caCert;
        raw.typha = { replicas: 3 };
    }
    const secrets = delivery === "daemonset" ? { sshPrivateKey: sshKey } : { ...labSecrets(), sshPrivateKey: sshKey };
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    // The lab's binaries are not on disk: stage nothing (a real run stages once per set of binaries, bench:sandbox).
    new Calico("calico", {
        config: resolvedConfig(raw, secrets),
        previous: await readPreviousOutputs(),
        stageUpload: (plan) => `/stage/${plan.digest.slice(0, 16)}`,
    });
    await harness.settle();
    const buildMs = Number(process.hrtime.bigint() - start) / 1e6;
    const cpu = process.cpuUsage(cpuStart);
    return {
        nodes,
        resources: harness.recorded.length,
        kubernetes: harness.recorded.filter((r) => r.type.startsWith("kubernetes:")).length,
        buildMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        // maxRSS is in kilobytes on Linux.
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        retainedMb: retainedHeapMb(),
        stateBytesPerNode:
            perNodeStateBytes(
                harness.recorded,
                raw.nodes.map((n: { name: string }) => n.name),
            ) / nodes,
    };
}

/**
 * Bytes of state the nodes' own resources (named `<node>-...`) hold: inputs and outputs, as JSON, as the
 * engine keeps both. Components hold none.
 */
function perNodeStateBytes(recorded: { type: string; name: string; inputs: unknown; state: unknown }[], nodeNames: string[]): number {
    const prefixes = new Set(nodeNames.map((n) => `${n}-`));
    const perNode = recorded.filter((r) => !r.type.startsWith("calico:index:") && [...prefixes].some((p) => r.name.startsWith(p)));
    return perNode.reduce((sum, r) => sum + JSON.stringify(r.inputs).length + JSON.stringify(r.state).length, 0);
}

function retainedHeapMb(): number {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed / 1048576;
}

function run(nodes: number, delivery: string): Sample {
    const child = spawnSync(
        process.execPath,
        ["--expose-gc", "-r", "ts-node/register/transpile-only", __filename, "--child", String(nodes), delivery],
        {
            encoding: "utf8",
            maxBuffer: 64 * 1024 * 1024,
            // Transpiled as `pulumi up` transpiles the program (swc, no type-check).
            env: { ...process.env, TS_NODE_PROJECT: "tsconfig.pulumi.json" },
        },
    );
    const line = child.stdout.trim().split("\n").pop() ?? "";
    if (child.status !== 0 || !line.startsWith("{")) throw new Error(`bench for ${nodes} nodes failed:\n${child.stderr}${child.stdout}`);
    return JSON.parse(line) as Sample;
}

function table(samples: Sample[]): string {
    const head = [
        "nodes",
        "resources",
        "k8s objects",
        "wall (ms)",
        "CPU (ms)",
        "CPU ms/resource",
        "peak RSS (MB)",
        "retained heap (MB)",
        "state/node (KB)",
    ];
    const rows = samples.map((s) => [
        String(s.nodes),
        String(s.resources),
        String(s.kubernetes),
        s.buildMs.toFixed(0),
        s.cpuMs.toFixed(0),
        (s.cpuMs / s.resources).toFixed(2),
        s.peakRssMb.toFixed(0),
        s.retainedMb.toFixed(0),
        (s.stateBytesPerNode / 1024).toFixed(1),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
    return [line(head), `|${widths.map((w) => "-".repeat(w + 1) + ":").join("|")}|`, ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
    const args = process.argv.slice(2);
    if (args[0] === "--child") {
        const sample = await measure(Number(args[1]), args[2] ?? "ssh");
        process.stdout.write(JSON.stringify(sample) + "\n");
        // Pending mock timers must not keep the child alive.
        process.exit(0);
    }
    const at = args.indexOf("--delivery");
    const delivery = at >= 0 ? (args.splice(at, 2)[1] ?? "") : "ssh";
    if (delivery !== "ssh" && delivery !== "daemonset") throw new Error(`--delivery ${delivery}: use ssh or daemonset`);
    const sizes = args.length > 0 ? args.map(Number) : DEFAULT_SIZES;
    const samples = sizes.map((n) => run(n, delivery));
    console.log(`cni.delivery: ${delivery}`);
    console.log(table(samples));
}

main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
});
