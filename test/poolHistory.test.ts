import { previousStackOutputs, recorded, settle } from "./harness";
import * as fs from "fs";
import * as os from "os";
import { POOLS_OUTPUT, asPreviousPools, poolSummary } from "../components/builders/ippool";
import { checkPoolHistory } from "../components/config/load";
import { formatProblem } from "../components/config/problems";
import { migrationSteps, poolHistoryRules, poolRemovalWarnings } from "../components/config/rules/poolHistory";
import type { PoolConfig } from "../components/config/schema";
import type { PreviousPool } from "../components/config/types";
import { CRDS_FILE, ROOT, TEST_CERT_PEM, TEST_KEY_PEM, resolvedConfig, runProgram } from "./fixtures";

function pool(name: string, cidr: string, extra: Partial<PoolConfig> = {}): PoolConfig {
    const v6 = cidr.includes(":");
    return {
        name,
        cidr,
        blockSize: v6 ? 122 : 26,
        ipipMode: "Never",
        vxlanMode: "Never",
        natOutgoing: true,
        disabled: false,
        nodeSelector: "all()",
        disableBGPExport: false,
        ...extra,
    } as PoolConfig;
}

/** A pool as the last update's `pools` output recorded it. */
function was(name: string, cidr: string, extra: Partial<PreviousPool> = {}): PreviousPool {
    return { name, cidr, blockSize: cidr.includes(":") ? 122 : 26, disabled: false, ...extra };
}

const STEPS_A = migrationSteps("pool-a");
const LAST = [was("pool-a", "10.244.0.0/18"), was("pool-old", "10.244.192.0/19", { disabled: true })];
const DUAL = [was("pods-v4", "10.244.0.0/17"), was("pods-v6", "fd00:10:244::/64")];

test("the migration steps, word for word", () => {
    expect(STEPS_A).toBe(
        "migrate instead: add a pool under a new name with a range that overlaps no other pool, then set disabled: true on pool-a, " +
            "then recreate the pods that have addresses from pool-a, then remove pool-a from calico:pools, " +
            'with a `pulumi up` after each config change (docs/configuration.md: "Migrating a pool").',
    );
});

// Each case: the configured pools, the last update's, and the exact problems (formatted as the program reports them).
const cases: [string, PoolConfig[], PreviousPool[], string[]][] = [
    [
        "cidr moved in place",
        [pool("pool-a", "10.244.64.0/18"), pool("pool-old", "10.244.192.0/19", { disabled: true })],
        LAST,
        [
            `calico:pools[pool-a].cidr = "10.244.64.0/18": was 10.244.0.0/18 at the last update; pool pool-a's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.0.0/18 addresses. Put back 10.244.0.0/18 and ${STEPS_A}`,
        ],
    ],
    [
        "cidr widened in place (Calico refuses that too)",
        [pool("pool-a", "10.244.0.0/17")],
        [was("pool-a", "10.244.0.0/18")],
        [
            `calico:pools[pool-a].cidr = "10.244.0.0/17": was 10.244.0.0/18 at the last update; pool pool-a's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.0.0/18 addresses. Put back 10.244.0.0/18 and ${STEPS_A}`,
        ],
    ],
    [
        "blockSize changed in place",
        [pool("pool-a", "10.244.0.0/18", { blockSize: 24 })],
        [was("pool-a", "10.244.0.0/18")],
        [
            `calico:pools[pool-a].blockSize = 24: was 26 at the last update; pool pool-a's blockSize can't be edited in place, as its IPAM blocks keep their /26 size. Put back 26 and ${STEPS_A}`,
        ],
    ],
    [
        "cidr and blockSize both changed: one problem each",
        [pool("pool-a", "10.244.64.0/18", { blockSize: 28 })],
        [was("pool-a", "10.244.0.0/18")],
        [
            `calico:pools[pool-a].cidr = "10.244.64.0/18": was 10.244.0.0/18 at the last update; pool pool-a's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.0.0/18 addresses. Put back 10.244.0.0/18 and ${STEPS_A}`,
            `calico:pools[pool-a].blockSize = 28: was 26 at the last update; pool pool-a's blockSize can't be edited in place, as its IPAM blocks keep their /26 size. Put back 26 and ${STEPS_A}`,
        ],
    ],
    [
        "cidr changed on a pool that was already disabled: still the same IPPool object",
        [pool("pool-a", "10.244.0.0/18"), pool("pool-old", "10.244.224.0/19", { disabled: true })],
        LAST,
        [
            `calico:pools[pool-old].cidr = "10.244.224.0/19": was 10.244.192.0/19 at the last update; pool pool-old's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.192.0/19 addresses. Put back 10.244.192.0/19 and ${migrationSteps("pool-old")}`,
        ],
    ],
    [
        "IPv6 pool's cidr moved in place",
        [pool("pods-v4", "10.244.0.0/17"), pool("pods-v6", "fd00:10:245::/64")],
        DUAL,
        [
            `calico:pools[pods-v6].cidr = "fd00:10:245::/64": was fd00:10:244::/64 at the last update; pool pods-v6's cidr can't be edited in place, as its pods and IPAM blocks keep their fd00:10:244::/64 addresses. Put back fd00:10:244::/64 and ${migrationSteps("pods-v6")}`,
        ],
    ],
    [
        "IPv6 pool's blockSize changed in place",
        [pool("pods-v4", "10.244.0.0/17"), pool("pods-v6", "fd00:10:244::/64", { blockSize: 120 })],
        DUAL,
        [
            `calico:pools[pods-v6].blockSize = 120: was 122 at the last update; pool pods-v6's blockSize can't be edited in place, as its IPAM blocks keep their /122 size. Put back 122 and ${migrationSteps("pods-v6")}`,
        ],
    ],
    [
        "renamed and moved onto the removed pool's range: the same edit under a new name",
        [pool("pool-b", "10.244.0.0/17")],
        [was("pool-a", "10.244.0.0/18")],
        [
            `calico:pools[pool-b].cidr = "10.244.0.0/17": overlaps 10.244.0.0/18 of pool pool-a, which the last update applied and this config removes: a new name does not move the pods and IPAM blocks already in 10.244.0.0/18, and a range is free for a new pool only once an update has removed the old one. Put pool pool-a back and ${STEPS_A}`,
        ],
    ],
    [
        "renamed keeping its range exactly (calicoctl refuses the overlapping create on etcd)",
        [pool("pool-b", "10.244.0.0/18")],
        [was("pool-a", "10.244.0.0/18")],
        [
            `calico:pools[pool-b].cidr = "10.244.0.0/18": overlaps 10.244.0.0/18 of pool pool-a, which the last update applied and this config removes: a new name does not move the pods and IPAM blocks already in 10.244.0.0/18, and a range is free for a new pool only once an update has removed the old one. Put pool pool-a back and ${STEPS_A}`,
        ],
    ],
    [
        "a new pool inside a disabled pool removed in the same update",
        [pool("pool-a", "10.244.0.0/18"), pool("pool-new", "10.244.192.0/20")],
        LAST,
        [
            `calico:pools[pool-new].cidr = "10.244.192.0/20": overlaps 10.244.192.0/19 of pool pool-old, which the last update applied and this config removes: a new name does not move the pods and IPAM blocks already in 10.244.192.0/19, and a range is free for a new pool only once an update has removed the old one. Put pool pool-old back and ${migrationSteps("pool-old")}`,
        ],
    ],
    ["first run: no previous pools", [pool("pool-a", "10.244.64.0/18", { blockSize: 24 })], [], []],
    ["nothing changed", [pool("pool-a", "10.244.0.0/18"), pool("pool-old", "10.244.192.0/19", { disabled: true })], LAST, []],
    [
        "other fields change in place: modes, NAT, selector, disabled",
        [
            pool("pool-a", "10.244.0.0/18", { ipipMode: "Always", natOutgoing: false, nodeSelector: "zone == 'a'", disabled: true }),
            pool("pool-old", "10.244.192.0/19"),
        ],
        LAST,
        [],
    ],
    ["the same IPv6 network written another way", [pool("pods-v4", "10.244.0.0/17"), pool("pods-v6", "fd00:10:244:0::/64")], DUAL, []],
    [
        "migration step 1: a new pool with a range of its own",
        [pool("pool-a", "10.244.0.0/18"), pool("pool-old", "10.244.192.0/19", { disabled: true }), pool("pool-b", "10.244.64.0/18")],
        LAST,
        [],
    ],
    [
        "migration step 2: the old pool disabled",
        [pool("pool-a", "10.244.0.0/18", { disabled: true }), pool("pool-b", "10.244.64.0/18")],
        [was("pool-a", "10.244.0.0/18"), was("pool-b", "10.244.64.0/18")],
        [],
    ],
    [
        "migration step 4: the disabled pool removed",
        [pool("pool-b", "10.244.64.0/18")],
        [was("pool-a", "10.244.0.0/18", { disabled: true }), was("pool-b", "10.244.64.0/18")],
        [],
    ],
    ["renamed to a range of its own: a new pool", [pool("pool-b", "10.244.64.0/18")], [was("pool-a", "10.244.0.0/18")], []],
    [
        "the old range reused once an update has removed its pool",
        [pool("pool-b", "10.244.64.0/18"), pool("pool-c", "10.244.0.0/17", { disabled: true })],
        [was("pool-b", "10.244.64.0/18")],
        [],
    ],
];

describe("poolHistoryRules", () => {
    test.each(cases)("%s", (_name, pools, previous, messages) => {
        expect(poolHistoryRules(pools, previous).map(formatProblem)).toEqual(messages);
    });
});

const REMOVED_A =
    'calico:pools[pool-a] = (unset): pool pool-a (10.244.0.0/18) was enabled at the last update and this config removes it: pods that still have addresses from it keep them after the pool is gone. If any does, put pool-a back and migrate instead: set disabled: true on it, recreate those pods, then remove it (docs/configuration.md: "Migrating a pool").';

describe("poolRemovalWarnings", () => {
    test.each<[string, PoolConfig[], PreviousPool[], string[]]>([
        [
            "an enabled pool removed",
            [pool("pool-b", "10.244.64.0/18")],
            [was("pool-a", "10.244.0.0/18"), was("pool-b", "10.244.64.0/18")],
            [REMOVED_A],
        ],
        [
            "an enabled pool renamed (removed under its old name)",
            [pool("pool-b", "10.244.64.0/18")],
            [was("pool-a", "10.244.0.0/18")],
            [REMOVED_A],
        ],
        [
            "a disabled pool removed: the migration's last step",
            [pool("pool-b", "10.244.64.0/18")],
            [was("pool-a", "10.244.0.0/18", { disabled: true })],
            [],
        ],
        ["nothing removed", [pool("pool-a", "10.244.0.0/18")], [was("pool-a", "10.244.0.0/18")], []],
        ["first run", [pool("pool-a", "10.244.0.0/18")], [], []],
    ])("%s", (_name, pools, previous, messages) => {
        expect(poolRemovalWarnings(pools, previous).map(formatProblem)).toEqual(messages);
    });
});

describe("the pools output, read back", () => {
    test("poolSummary's lines round-trip", () => {
        const pools = [pool("pool-a", "10.244.0.0/18"), pool("pods-v6", "fd00:10:244::/64", { disabled: true })];
        expect(asPreviousPools(JSON.parse(JSON.stringify(pools.map(poolSummary))))).toEqual([
            was("pool-a", "10.244.0.0/18"),
            was("pods-v6", "fd00:10:244::/64", { disabled: true }),
        ]);
    });

    test.each<[string, unknown]>([
        ["no output (first run)", undefined],
        ["not a list", { "pool-a": { cidr: "10.244.0.0/18" } }],
        [
            "lines without a name, cidr or numeric blockSize",
            [
                { cidr: "10.244.0.0/18", blockSize: 26 },
                { name: "a", blockSize: 26 },
                { name: "a", cidr: "10.244.0.0/18", blockSize: "26" },
                null,
                "a",
            ],
        ],
    ])("%s gives nothing to compare against", (_name, value) => {
        expect(asPreviousPools(value)).toEqual([]);
    });

    test("a line without disabled counts as enabled", () => {
        expect(asPreviousPools([{ name: "a", cidr: "10.244.0.0/18", blockSize: 26 }])).toEqual([was("a", "10.244.0.0/18")]);
    });
});

describe("checkPoolHistory", () => {
    const config = resolvedConfig();

    test("rejects with the stack config error listing every refused pool", async () => {
        await expect(
            checkPoolHistory(config, [
                was("ipv4-ippool-1", "10.244.64.0/18"),
                was("ipv4-ippool-2", "10.244.192.0/19", { blockSize: 27, disabled: true }),
            ]),
        ).rejects.toHaveProperty(
            "message",
            "The calico stack config has 2 problems:\n" +
                `  - calico:pools[ipv4-ippool-1].cidr = "10.244.0.0/18": was 10.244.64.0/18 at the last update; pool ipv4-ippool-1's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.64.0/18 addresses. Put back 10.244.64.0/18 and ${migrationSteps("ipv4-ippool-1")}\n` +
                `  - calico:pools[ipv4-ippool-2].blockSize = 26: was 27 at the last update; pool ipv4-ippool-2's blockSize can't be edited in place, as its IPAM blocks keep their /27 size. Put back 27 and ${migrationSteps("ipv4-ippool-2")}`,
        );
    });

    test("warns about an enabled pool removed, and passes", async () => {
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        try {
            await checkPoolHistory(config, [
                ...config.pools.map((p) => was(p.name, p.cidr, { disabled: p.disabled })),
                was("retired", "10.244.64.0/18"),
            ]);
            expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
                'warning: [runtime] calico:pools[retired] = (unset): pool retired (10.244.64.0/18) was enabled at the last update and this config removes it: pods that still have addresses from it keep them after the pool is gone. If any does, put retired back and migrate instead: set disabled: true on it, recreate those pods, then remove it (docs/configuration.md: "Migrating a pool").',
            ]);
        } finally {
            warn.mockRestore();
        }
    });
});

describe("the program, through index.ts", () => {
    const config = {
        // Dual-stack, so the IPv6 pool goes through the program too.
        cluster: { podCidr: "10.244.0.0/16", podCidrV6: "fd00:10:244::/56", apiServer: "https://10.0.0.10:6443", caCert: TEST_CERT_PEM },
        calicoNode: { ipv6: true },
        nodes: [{ name: "n1", address: "10.0.0.11" }],
        pools: [
            { name: "pool-a", cidr: "10.244.0.0/18" },
            { name: "pods-v6", cidr: "fd00:10:244::/64", blockSize: 122 },
        ],
        cni: { localBinDir: binDir() },
        datastore: { crdsFile: CRDS_FILE },
        clusterCaKey: TEST_KEY_PEM,
        sshPrivateKey: TEST_KEY_PEM,
    };
    const secretKeys = ["calico:clusterCaKey", "calico:sshPrivateKey"];

    /** Any existing files stand in for the CNI binaries: only their sha256 matters to the program. */
    function binDir(): string {
        const dir = fs.mkdtempSync(`${os.tmpdir()}/bins-`);
        for (const b of ["calico", "calico-ipam", "portmap", "loopback", "host-local"]) fs.writeFileSync(`${dir}/${b}`, b);
        return dir;
    }

    async function run(previousPools: unknown) {
        for (const k of Object.keys(previousStackOutputs)) delete previousStackOutputs[k];
        if (previousPools !== undefined) previousStackOutputs[POOLS_OUTPUT] = previousPools;
        recorded.length = 0;
        const result = await runProgram(config, secretKeys);
        await settle();
        return result;
    }

    afterEach(() => {
        for (const k of Object.keys(previousStackOutputs)) delete previousStackOutputs[k];
    });

    test("a cidr changed since the last update: fails with the message and registers nothing but the read of the last outputs", async () => {
        const { error } = await run([
            {
                name: "pool-a",
                cidr: "10.244.64.0/18",
                blockSize: 26,
                ipipMode: "Never",
                vxlanMode: "Never",
                natOutgoing: true,
                disabled: false,
            },
            {
                name: "pods-v6",
                cidr: "fd00:10:244::/64",
                blockSize: 122,
                ipipMode: "Never",
                vxlanMode: "Never",
                natOutgoing: true,
                disabled: false,
            },
        ]);
        expect(error).toBe(
            "The calico stack config has 1 problem:\n" +
                `  - calico:pools[pool-a].cidr = "10.244.0.0/18": was 10.244.64.0/18 at the last update; pool pool-a's cidr can't be edited in place, as its pods and IPAM blocks keep their 10.244.64.0/18 addresses. Put back 10.244.64.0/18 and ${STEPS_A}`,
        );
        expect(recorded.map((r) => `${r.type} ${r.name} ${r.inputs.name}`)).toEqual([
            "pulumi:pulumi:StackReference pools-previous organization/calico-hard-way/test",
        ]);
    });

    test("an IPv6 pool's blockSize changed since the last update: refused the same way", async () => {
        const { error } = await run([
            { name: "pool-a", cidr: "10.244.0.0/18", blockSize: 26 },
            { name: "pods-v6", cidr: "fd00:10:244::/64", blockSize: 120 },
        ]);
        expect(error).toContain("calico:pools[pods-v6].blockSize = 122: was 120 at the last update;");
        expect(recorded.map((r) => r.type)).toEqual(["pulumi:pulumi:StackReference"]);
    });

    test("the pools the last update exported, unchanged: builds, and exports them again for the next run", async () => {
        const first = await run(undefined);
        expect(first.error).toBeUndefined();
        // A plain value, as the engine stores it: what the next run's StackReference reads back.
        const exported = JSON.parse(JSON.stringify(first.exports[POOLS_OUTPUT]));
        expect(exported.map((p: any) => `${p.name} ${p.cidr} /${p.blockSize}`)).toEqual([
            "pods-v6 fd00:10:244::/64 /122",
            "pool-a 10.244.0.0/18 /26",
        ]);
        const again = await run(exported);
        expect(again.error).toBeUndefined();
        expect(recorded.length).toBeGreaterThan(20);
    });

    test("an enabled pool gone from config: builds, with the warning first", async () => {
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        try {
            const { error } = await run([
                { name: "pool-a", cidr: "10.244.0.0/18", blockSize: 26, disabled: false },
                { name: "pods-v6", cidr: "fd00:10:244::/64", blockSize: 122, disabled: false },
                { name: "retired", cidr: "10.244.64.0/18", blockSize: 26, disabled: false },
            ]);
            expect(error).toBeUndefined();
            expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("calico:pools"))).toEqual([
                expect.stringContaining("calico:pools[retired] = (unset): pool retired (10.244.64.0/18) was enabled at the last update"),
            ]);
            expect(recorded.length).toBeGreaterThan(20);
        } finally {
            warn.mockRestore();
        }
    });

    test("a first run (no pools output yet) refuses nothing", async () => {
        const { error } = await run(undefined);
        expect(error).toBeUndefined();
        expect(
            recorded
                .filter((r) => r.type.endsWith("crd.projectcalico.org/v1:IPPool"))
                .map((r) => r.inputs.spec.cidr)
                .sort(),
        ).toEqual(["10.244.0.0/18", "fd00:10:244::/64"]);
    });
});

test("docs/configuration.md documents the migration the messages point to", () => {
    const readme = fs.readFileSync(`${ROOT}/docs/configuration.md`, "utf8");
    expect(readme.includes("\n#### Migrating a pool\n")).toBe(true);
    expect(readme.includes("(#migrating-a-pool)")).toBe(true);
    // The page's example refusal is the rule's own output, word for word.
    const example = formatProblem(poolHistoryRules([pool("ipv4-ippool-1", "10.244.64.0/18")], [was("ipv4-ippool-1", "10.244.0.0/18")])[0]!);
    expect(readme.includes(`\n  - ${example}\n`)).toBe(true);
});
