import { buildProgram, byType, callHandlers, calls, find, recorded, recordedOpts, reset, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { buildRouteEntries, routeSummary } from "../components/builders/aliyunRoutes";
import { pickRouteTable } from "../components/config/rules/aliyun";
import { formatProblem } from "../components/config/problems";
import { resolveConfig } from "../components/config/resolve";
import { routeTableOfVpc } from "../components/resources/aliyunRoutes";
import { Mutate, fakeEnv, labRaw, labSecrets, problemsOf, runProgram, resolvedConfig } from "./fixtures";

const ROUTE = "alicloud:vpc/routeEntry:RouteEntry";
const PROVIDER = "pulumi:providers:alicloud";
const LOOKUP = "alicloud:vpc/getRouteTables:getRouteTables";

const INSTANCES: Record<string, string> = { cka001: "i-bp1aaa001", cka002: "i-bp1aaa002", cka003: "i-bp1aaa003" };

/** The lab in non-tunnel mode on Alibaba Cloud: host-local IPAM, a pod CIDR and an instance per node. */
function aliyunRaw(): any {
    const raw: any = labRaw();
    raw.nodes.forEach((n: any, i: number) => Object.assign(n, { podCidr: `10.244.${i}.0/24`, instanceId: INSTANCES[n.name] }));
    raw.cni.ipam = "host-local";
    raw.aliyun = { enabled: true, region: "cn-hangzhou", routeTableId: "vtb-bp1table" };
    return raw;
}

/** Rejection of an Output, which `apply` alone can't observe; every promise it holds is awaited so none goes unhandled. */
async function failureOf(o: pulumi.Output<unknown>): Promise<string> {
    const impl = o as unknown as {
        promise(): Promise<unknown>;
        isKnown: Promise<boolean>;
        isSecret: Promise<boolean>;
        allResources(): Promise<unknown>;
    };
    const results = await Promise.allSettled([impl.promise(), impl.isKnown, impl.isSecret, impl.allResources()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    return failed ? (failed.reason as Error).message : "(no error)";
}

describe("route entry builder", () => {
    const nodes = [
        { name: "b-node", podCidr: "10.244.1.0/24", instanceId: "i-2" },
        { name: "a-node", podCidr: "10.244.0.0/24", instanceId: "i-1" },
    ];

    test("one entry per node, named from the node, sorted by name", () => {
        expect(buildRouteEntries(nodes, "vtb-x")).toEqual([
            {
                resourceName: "a-node-vpc-route",
                node: "a-node",
                routeTableId: "vtb-x",
                destinationCidrblock: "10.244.0.0/24",
                nexthopType: "Instance",
                nexthopId: "i-1",
                name: "calico-a-node",
                description: "Pod CIDR of Kubernetes node a-node (Calico non-tunnel mode)",
            },
            {
                resourceName: "b-node-vpc-route",
                node: "b-node",
                routeTableId: "vtb-x",
                destinationCidrblock: "10.244.1.0/24",
                nexthopType: "Instance",
                nexthopId: "i-2",
                name: "calico-b-node",
                description: "Pod CIDR of Kubernetes node b-node (Calico non-tunnel mode)",
            },
        ]);
    });

    test("the summary is node → destination → next hop", () => {
        expect(routeSummary(buildRouteEntries(nodes, "vtb-x"))).toEqual([
            { node: "a-node", destination: "10.244.0.0/24", nextHopType: "Instance", nextHop: "i-1" },
            { node: "b-node", destination: "10.244.1.0/24", nextHopType: "Instance", nextHop: "i-2" },
        ]);
    });

    test("the route table is picked only when the VPC has exactly one", () => {
        expect(pickRouteTable("vpc-a", "cn-hangzhou", [{ routeTableId: "vtb-1" }])).toEqual({ ok: true, routeTableId: "vtb-1" });
        const none = pickRouteTable("vpc-a", "cn-hangzhou", []);
        expect(!none.ok && formatProblem(none.problem)).toBe(
            'calico:aliyun.vpcId = "vpc-a": has no route table in region cn-hangzhou; check the VPC id and aliyun.region, or set aliyun.routeTableId.',
        );
        const two = pickRouteTable("vpc-a", "cn-hangzhou", [{ routeTableId: "vtb-2" }, { routeTableId: "vtb-1" }]);
        expect(!two.ok && formatProblem(two.problem)).toBe(
            'calico:aliyun.vpcId = "vpc-a": has 2 route tables (vtb-1, vtb-2), so the one to use is ambiguous; set aliyun.routeTableId to the table associated with the nodes\' vSwitches.',
        );
    });
});

describe("routes under mocks", () => {
    test("one route entry per node with the exact fields, through an explicit provider in the region", async () => {
        const calico = await buildProgram(resolvedConfig(aliyunRaw()));
        expect(
            byType(ROUTE)
                .map((r) => r.name)
                .sort(),
        ).toEqual(["cka001-vpc-route", "cka002-vpc-route", "cka003-vpc-route"]);
        ["cka001", "cka002", "cka003"].forEach((node, i) => {
            expect(find(ROUTE, `${node}-vpc-route`).inputs).toEqual({
                routeTableId: "vtb-bp1table",
                destinationCidrblock: `10.244.${i}.0/24`,
                nexthopType: "Instance",
                nexthopId: INSTANCES[node],
                name: `calico-${node}`,
                description: `Pod CIDR of Kubernetes node ${node} (Calico non-tunnel mode)`,
            });
            const opts = recordedOpts.find((o) => o.name === `${node}-vpc-route`);
            expect(opts).toMatchObject({ parent: "aliyun-routes", deleteBeforeReplace: true });
        });
        expect(byType(PROVIDER).map((p) => [p.name, p.inputs.region])).toEqual([["aliyun-routes-provider", "cn-hangzhou"]]);
        expect(recordedOpts.find((o) => o.name === "aliyun-routes-provider")?.parent).toBe("aliyun-routes");
        expect(recordedOpts.find((o) => o.name === "aliyun-routes")?.parent).toBe("calico");
        // The table id was given: nothing is looked up.
        expect(calls.filter((c) => c.token.startsWith("alicloud:"))).toEqual([]);

        expect(await valueOf(calico.outputs.aliyunRouteTableId)).toBe("vtb-bp1table");
        expect(await valueOf(calico.outputs.aliyunRoutes)).toEqual([
            { node: "cka001", destination: "10.244.0.0/24", nextHopType: "Instance", nextHop: "i-bp1aaa001" },
            { node: "cka002", destination: "10.244.1.0/24", nextHopType: "Instance", nextHop: "i-bp1aaa002" },
            { node: "cka003", destination: "10.244.2.0/24", nextHopType: "Instance", nextHop: "i-bp1aaa003" },
        ]);
    });

    test("removing a node removes only its route", async () => {
        const snapshot = () => recorded.map((r) => `${r.type}::${r.name}::${JSON.stringify(r.inputs)}`).sort();
        await buildProgram(resolvedConfig(aliyunRaw()));
        const all = snapshot();
        const raw = aliyunRaw();
        raw.nodes = raw.nodes.filter((n: any) => n.name !== "cka002");
        await buildProgram(resolvedConfig(raw));
        const fewer = snapshot();
        const gone = all.filter((r) => !fewer.includes(r));
        // Exactly cka002's route goes; the provider and the other entries stay as they were. The rest of the
        // program (per-node hosts, Typha's replica count) is the identity tests' concern in program.test.ts.
        expect(fewer.filter((r) => r.includes("alicloud")).every((r) => all.includes(r))).toBe(true);
        expect(gone.filter((r) => r.includes("alicloud")).map((r) => r.split("::").slice(0, 2).join("::"))).toEqual([
            `${ROUTE}::cka002-vpc-route`,
        ]);
    });

    test("reordering nodes changes no alicloud resource", async () => {
        const alicloud = () =>
            recorded
                .filter((r) => r.type.includes("alicloud"))
                .map((r) => `${r.type}::${r.name}::${JSON.stringify(r.inputs)}`)
                .sort();
        await buildProgram(resolvedConfig(aliyunRaw()));
        const first = alicloud();
        const raw = aliyunRaw();
        raw.nodes.reverse();
        await buildProgram(resolvedConfig(raw));
        expect(alicloud()).toEqual(first);
    });

    test("with aliyun.enabled false no alicloud resource or call is made", async () => {
        const raw = aliyunRaw();
        raw.aliyun.enabled = false;
        const calico = await buildProgram(resolvedConfig(raw));
        expect(recorded.filter((r) => r.type.includes("alicloud") || r.type === "calico:index:AliyunRoutes")).toEqual([]);
        expect(calls.filter((c) => c.token.includes("alicloud"))).toEqual([]);
        expect(calico.outputs.aliyunRoutes).toBeUndefined();
        expect(calico.aliyunRoutes).toBeUndefined();
    });

    test("credentials from alicloud: config reach the provider as secrets", async () => {
        const secrets = { ...labSecrets(), alicloudAccessKey: "LTAI-test-id", alicloudSecretKey: "test-secret" };
        const calico = await buildProgram(resolvedConfig(aliyunRaw(), secrets));
        const provider = find(PROVIDER, "aliyun-routes-provider");
        expect(JSON.stringify(provider.inputs)).toContain("test-secret");
        expect(Object.keys(calico.aliyunRoutes?.entries ?? {}).sort()).toEqual(Object.keys(INSTANCES).sort());
        // The program wraps them with pulumi.secret; the builder fixture passes them through as given.
        const v = resolveConfig(aliyunRaw(), secrets, fakeEnv, (s) => pulumi.secret(s));
        expect(v.ok && (await pulumi.isSecret(pulumi.output(v.config.aliyun?.secretKey)))).toBe(true);
    });
});

describe("route table look-up from aliyun.vpcId", () => {
    afterEach(() => {
        delete callHandlers[LOOKUP];
    });

    function vpcOnly(): any {
        const raw = aliyunRaw();
        delete raw.aliyun.routeTableId;
        raw.aliyun.vpcId = "vpc-bp1main";
        return raw;
    }

    test("one table: its id is used for every entry and exported", async () => {
        callHandlers[LOOKUP] = () => ({
            id: "cn-hangzhou",
            ids: ["vtb-only"],
            names: ["main"],
            tables: [{ routeTableId: "vtb-only", id: "vtb-only" }],
            totalCount: 1,
        });
        const calico = await buildProgram(resolvedConfig(vpcOnly()));
        expect(calls.filter((c) => c.token === LOOKUP).map((c) => c.inputs.vpcId)).toEqual(["vpc-bp1main"]);
        expect(byType(ROUTE).map((r) => r.inputs.routeTableId)).toEqual(["vtb-only", "vtb-only", "vtb-only"]);
        expect(await valueOf(calico.outputs.aliyunRouteTableId)).toBe("vtb-only");
    });

    // Only the look-up is built here: in a run, the entries and outputs that take its answer fail with the
    // same message, reported by the language host, so no entry is created.
    test("several tables: the look-up fails naming the key and the tables", async () => {
        callHandlers[LOOKUP] = () => ({
            id: "cn-hangzhou",
            ids: ["vtb-a", "vtb-b"],
            names: ["system", "custom"],
            tables: [{ routeTableId: "vtb-b" }, { routeTableId: "vtb-a" }],
            totalCount: 2,
        });
        reset();
        expect(await failureOf(routeTableOfVpc("vpc-bp1main", "cn-hangzhou", {}))).toBe(
            "The calico stack config has 1 problem:\n" +
                '  - calico:aliyun.vpcId = "vpc-bp1main": has 2 route tables (vtb-a, vtb-b), so the one to use is ambiguous; set aliyun.routeTableId to the table associated with the nodes\' vSwitches.',
        );
        expect(calls.map((c) => [c.token, c.inputs.vpcId])).toEqual([[LOOKUP, "vpc-bp1main"]]);
    });

    test("no table: the look-up fails naming the key and the region", async () => {
        callHandlers[LOOKUP] = () => ({ id: "cn-beijing", ids: [], names: [], tables: [], totalCount: 0 });
        reset();
        expect(await failureOf(routeTableOfVpc("vpc-bp1empty", "cn-beijing", {}))).toBe(
            "The calico stack config has 1 problem:\n" +
                '  - calico:aliyun.vpcId = "vpc-bp1empty": has no route table in region cn-beijing; check the VPC id and aliyun.region, or set aliyun.routeTableId.',
        );
    });
});

/** Problems of the non-tunnel lab after `mutate`. */
const aliyunProblems = (mutate: Mutate) => problemsOf(mutate, { start: aliyunRaw });

const cases: [string, Mutate, string | string[]][] = [
    [
        "missing region",
        (r) => delete r.aliyun.region,
        "calico:aliyun.region = (unset): is required with aliyun.enabled; set the region of the VPC, e.g. cn-hangzhou.",
    ],
    [
        "malformed region",
        (r) => (r.aliyun.region = "Hangzhou"),
        'calico:aliyun.region = "Hangzhou": is not an Alibaba Cloud region id; use the id, e.g. cn-hangzhou.',
    ],
    [
        "neither route table nor VPC",
        (r) => delete r.aliyun.routeTableId,
        "calico:aliyun.routeTableId = (unset): the route table is missing; set aliyun.routeTableId (vtb-...), or aliyun.vpcId (vpc-...) when that VPC has a single route table.",
    ],
    [
        "both route table and VPC",
        (r) => (r.aliyun.vpcId = "vpc-bp1main"),
        'calico:aliyun.vpcId = "vpc-bp1main": is set together with aliyun.routeTableId; remove one, since either names the table and they could disagree.',
    ],
    [
        "malformed route table id",
        (r) => (r.aliyun.routeTableId = "rtb-123"),
        'calico:aliyun.routeTableId = "rtb-123": is not a route table id; use the vtb-... id from the VPC console.',
    ],
    [
        "malformed VPC id",
        (r) => {
            delete r.aliyun.routeTableId;
            r.aliyun.vpcId = "net-1";
        },
        'calico:aliyun.vpcId = "net-1": is not a VPC id; use the vpc-... id from the VPC console.',
    ],
    [
        "more nodes than the route quota",
        (r) => (r.aliyun.routeQuota = 2),
        "calico:aliyun.routeQuota = 2: 3 nodes need 3 route entries, more than the quota of 2; raise the route table's quota in the Quota Center and set aliyun.routeQuota to match, or use a tunnel mode (IPIP or VXLAN), which needs no routes.",
    ],
    [
        "route quota below 1",
        (r) => (r.aliyun.routeQuota = 0),
        "calico:aliyun.routeQuota = 0: must be at least 1; use the route table's custom route quota (200 by default).",
    ],
    [
        "IPIP pool with routes",
        (r) => (r.pools[0].ipipMode = "Always"),
        'calico:pools[ipv4-ippool-1].ipipMode = "Always": is a tunnel mode, but aliyun.enabled routes pods through VPC route entries instead (non-tunnel mode); set ipipMode Never, or set aliyun.enabled false to keep the tunnel, which needs no VPC routes.',
    ],
    [
        "VXLAN pool with routes",
        // With host-local the IPAM rules refuse VXLAN already; spiderpool leaves it to the route rules.
        (r) => {
            r.cni.ipam = "spiderpool";
            r.pools[1].vxlanMode = "CrossSubnet";
        },
        'calico:pools[ipv4-ippool-2].vxlanMode = "CrossSubnet": is a tunnel mode, but aliyun.enabled routes pods through VPC route entries instead (non-tunnel mode); set vxlanMode Never, or set aliyun.enabled false to keep the tunnel, which needs no VPC routes.',
    ],
    [
        "calico-ipam with routes",
        (r) => (r.cni.ipam = "calico-ipam"),
        "calico:cni.ipam = \"calico-ipam\": calico-ipam hands out addresses in blocks that are not tied to one node, so one VPC route per node can't cover them; set cni.ipam to host-local or spiderpool, which take each node's pods from its podCidr.",
    ],
    [
        "node without a pod CIDR",
        (r) => {
            r.cni.ipam = "calico-ipam";
            delete r.nodes[1].podCidr;
        },
        [
            "calico:cni.ipam = \"calico-ipam\": calico-ipam hands out addresses in blocks that are not tied to one node, so one VPC route per node can't cover them; set cni.ipam to host-local or spiderpool, which take each node's pods from its podCidr.",
            "calico:nodes[cka002].podCidr = (unset): is the destination of node cka002's VPC route; set it to the node's spec.podCIDR (kubectl get node cka002 -o jsonpath='{.spec.podCIDR}').",
        ],
    ],
    [
        "node without an instance id",
        (r) => delete r.nodes[2].instanceId,
        "calico:nodes[cka003].instanceId = (unset): node cka003 has no ECS instance id, the next hop of its VPC route; set it to the instance's i-... id (ECS console, or http://100.100.100.200/latest/meta-data/instance-id on the node).",
    ],
    [
        "malformed instance id",
        (r) => (r.nodes[0].instanceId = "bp1aaa001"),
        'calico:nodes[cka001].instanceId = "bp1aaa001": is not an ECS instance id; use the i-... id of node cka001\'s instance.',
    ],
    [
        "two nodes with one instance id",
        (r) => (r.nodes[2].instanceId = INSTANCES.cka001),
        'calico:nodes[cka003].instanceId = "i-bp1aaa001": is also the instance id of nodes[cka001]; give each node its own ECS instance id.',
    ],
];

describe("aliyun validation", () => {
    test("the non-tunnel lab is valid", () => {
        expect(aliyunProblems(() => undefined)).toEqual([]);
    });

    test.each(cases)("%s", (_name, mutate, message) => {
        expect(aliyunProblems(mutate)).toEqual([message].flat());
    });

    test("with host-local, a missing pod CIDR and a VXLAN pool are reported once, by the IPAM rules", () => {
        const msgs = aliyunProblems((r) => {
            delete r.nodes[1].podCidr;
            r.pools[0].vxlanMode = "Always";
        });
        expect(msgs.filter((m) => m.startsWith("calico:nodes[cka002].podCidr"))).toHaveLength(1);
        expect(msgs.filter((m) => m.startsWith("calico:pools[ipv4-ippool-1].vxlanMode"))).toHaveLength(1);
    });

    test("node pod CIDR overlap is reported once, by the node rules", () => {
        const msgs = aliyunProblems((r) => (r.nodes[1].podCidr = "10.244.0.0/23"));
        expect(msgs.filter((m) => m.includes("podCidr"))).toEqual([
            'calico:nodes[cka002].podCidr = "10.244.0.0/23": overlaps nodes[cka001].podCidr 10.244.0.0/24; each node needs its own range.',
        ]);
    });

    test("reports every route problem at once", () => {
        const msgs = aliyunProblems((r) => {
            delete r.aliyun.region;
            r.pools[0].ipipMode = "Always";
            r.cni.ipam = "calico-ipam";
            delete r.nodes[0].instanceId;
        });
        expect(msgs.map((m) => m.split(" = ")[0])).toEqual(
            expect.arrayContaining([
                "calico:aliyun.region",
                "calico:pools[ipv4-ippool-1].ipipMode",
                "calico:cni.ipam",
                "calico:nodes[cka001].instanceId",
            ]),
        );
    });

    test("with aliyun.enabled false none of the route rules apply", () => {
        const v = resolveConfig({ ...labRaw(), aliyun: { enabled: false } }, labSecrets(), fakeEnv);
        expect(v.ok).toBe(true);
    });

    test("alicloud:secretKey set in plaintext is refused and never echoed", () => {
        const msgs = problemsOf(() => undefined, { start: aliyunRaw, env: { ...fakeEnv, plaintextSecretKeys: ["alicloud:secretKey"] } });
        expect(msgs).toEqual([
            "alicloud:secretKey = <secret>: is stored in plaintext; set it again with `pulumi config set --secret alicloud:secretKey`.",
        ]);
    });
});

describe("alicloud credentials through the entry point", () => {
    // As `pulumi up` hands config over: alicloud:secretKey set without --secret is refused by name.
    test("a plaintext alicloud:secretKey fails before any resource is registered", async () => {
        const raw = aliyunRaw();
        reset();
        const message =
            (
                await runProgram(
                    {
                        ...raw,
                        clusterCaKey: labSecrets().clusterCaKey,
                        sshPrivateKey: labSecrets().sshPrivateKey,
                        "alicloud:accessKey": "LTAI-test-id",
                        "alicloud:secretKey": "plaintext-secret-value",
                    },
                    ["calico:clusterCaKey", "calico:sshPrivateKey"],
                )
            ).error ?? "";
        expect(message).toContain(
            "alicloud:secretKey = <secret>: is stored in plaintext; set it again with `pulumi config set --secret alicloud:secretKey`.",
        );
        expect(message).not.toContain("plaintext-secret-value");
        expect(recorded).toEqual([]);
    });
});

test("the program loads @pulumi/alicloud only when calico:aliyun is set (it costs every preview ~0.1 s)", () => {
    const probe = `require("ts-node").register({ transpileOnly: true }); require("./components/calico");
console.log(Object.keys(require.cache).filter((k) => k.includes("@pulumi/alicloud")).length)`;
    const out = require("child_process").execFileSync(process.execPath, ["-e", probe], {
        cwd: require("path").join(__dirname, ".."),
        encoding: "utf8",
    });
    expect(out.trim()).toBe("0");
});
