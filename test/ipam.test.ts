import { buildProgram, byType, find, installedFile, stagedScript } from "./harness";
import { INSTALL_SCRIPT } from "../components/builders/hostBundle";
import { buildConflist } from "../components/builders/conflist";
import { buildSpiderIpPool } from "../components/builders/spiderpool";
import { usableRange } from "../components/facts/cidr";
import { Mutate, labRaw, problemsOf, resolvedConfig } from "./fixtures";

const SPIDER = "kubernetes:spiderpool.spidernet.io/v2beta1:SpiderIPPool";
const POD_CIDRS: Record<string, string> = { cka001: "10.244.0.0/24", cka002: "10.244.1.0/24", cka003: "10.244.2.0/24" };

/** The lab with each node's podCIDR and the given IPAM mode. */
function withIpam(ipam: string, extra: Record<string, unknown> = {}): any {
    const raw: any = labRaw();
    for (const n of raw.nodes) n.podCidr = POD_CIDRS[n.name];
    raw.cni = { ...raw.cni, ipam, ...extra };
    return raw;
}

function conflistOf(node: string): any {
    return JSON.parse(installedFile(node, "/etc/cni/net.d/10-calico.conflist").content);
}

const base = {
    nodeName: "cka001",
    mtu: 1500,
    logLevel: "info",
    kubeconfigPath: "/etc/cni/net.d/calico-kubeconfig",
    ipam: "calico-ipam" as const,
    ipv6: false,
    bandwidth: false,
    datastore: { type: "kubernetes" as const },
};

describe("conflist IPAM and bandwidth", () => {
    test.each([
        ["calico-ipam", { type: "calico-ipam" }],
        ["host-local", { type: "host-local", subnet: "usePodCidr" }],
        ["spiderpool", { type: "spiderpool" }],
    ] as const)("%s", (ipam, section) => {
        expect((buildConflist({ ...base, ipam }).plugins as any[])[0].ipam).toEqual(section);
    });

    test("the bandwidth plugin joins the chain after portmap only when switched on", () => {
        const types = (o: Record<string, unknown>) => (o.plugins as { type: string }[]).map((p) => p.type);
        expect(types(buildConflist(base))).toEqual(["calico", "portmap"]);
        const on = buildConflist({ ...base, bandwidth: true });
        expect(types(on)).toEqual(["calico", "portmap", "bandwidth"]);
        expect((on.plugins as any[])[2]).toEqual({ type: "bandwidth", capabilities: { bandwidth: true } });
    });
});

describe("Spiderpool builders", () => {
    test.each([
        ["10.244.0.0/24", "10.244.0.1-10.244.0.254"],
        ["10.244.4.0/22", "10.244.4.1-10.244.7.254"],
        ["10.244.1.0/30", "10.244.1.1-10.244.1.2"],
        ["10.244.1.0/31", undefined],
        ["fd00:10:244::/120", "fd00:10:244::1-fd00:10:244::ff"],
    ])("usable range of %s", (cidr, range) => {
        expect(usableRange(cidr)).toBe(range);
    });

    test("one SpiderIPPool per node: the node's range, pinned to the node, default for its pods", () => {
        expect(buildSpiderIpPool({ name: "cka002", podCidr: "10.244.1.0/24" }, "10.244.0.0/16")).toEqual({
            apiVersion: "spiderpool.spidernet.io/v2beta1",
            kind: "SpiderIPPool",
            metadata: { name: "cka002", labels: { "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "calico" } },
            spec: { subnet: "10.244.0.0/16", ips: ["10.244.1.1-10.244.1.254"], nodeName: ["cka002"], default: true },
        });
    });
});

describe("IPAM modes under mocks", () => {
    test("spiderpool: the conflist uses it and each node gets its own SpiderIPPool", async () => {
        await buildProgram(resolvedConfig(withIpam("spiderpool")));
        const pools = byType(SPIDER);
        expect(pools.map((p) => p.name).sort()).toEqual(["cka001-spiderippool", "cka002-spiderippool", "cka003-spiderippool"]);
        for (const [node, cidr] of Object.entries(POD_CIDRS)) {
            const pool = find(SPIDER, `${node}-spiderippool`).inputs;
            expect(pool.metadata.name).toBe(node);
            expect(pool.spec.nodeName).toEqual([node]);
            expect(pool.spec.ips).toEqual([usableRange(cidr)]);
            expect(conflistOf(node).plugins[0].ipam).toEqual({ type: "spiderpool" });
        }
    });

    test("host-local: the conflist takes the node's podCIDR and no SpiderIPPool is made", async () => {
        await buildProgram(resolvedConfig(withIpam("host-local")));
        expect(byType(SPIDER)).toEqual([]);
        for (const node of Object.keys(POD_CIDRS))
            expect(conflistOf(node).plugins[0].ipam).toEqual({ type: "host-local", subnet: "usePodCidr" });
        // BGP advertises each node's podCIDR, as the operator sets it for host-local.
        const envOf = (type: string, name: string, container: string) =>
            Object.fromEntries(
                find(type, name)
                    .inputs.spec.template.spec.containers.find((c: any) => c.name === container)
                    .env.map((e: any) => [e.name, e.value]),
            );
        expect(envOf("kubernetes:apps/v1:DaemonSet", "calico-node", "calico-node").USE_POD_CIDR).toBe("true");
        expect(envOf("kubernetes:apps/v1:Deployment", "calico-typha", "calico-typha").USE_POD_CIDR).toBe("true");
    });

    test("calico-ipam: no SpiderIPPool", async () => {
        await buildProgram(resolvedConfig());
        expect(byType(SPIDER)).toEqual([]);
        expect(conflistOf("cka001").plugins[0].ipam).toEqual({ type: "calico-ipam" });
        const node = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0];
        expect(node.env.map((e: any) => e.name)).not.toContain("USE_POD_CIDR");
    });

    test("bandwidth on: the binary is installed and the plugin is in every conflist", async () => {
        await buildProgram(resolvedConfig(withIpam("host-local", { bandwidth: true })));
        for (const node of Object.keys(POD_CIDRS)) {
            expect(stagedScript(INSTALL_SCRIPT)).toMatch(/^put bandwidth [0-9a-f]{64}$/m);
            expect(conflistOf(node).plugins.map((p: any) => p.type)).toEqual(["calico", "portmap", "bandwidth"]);
        }
    });

    test("the derived MTU is the same in the conflist and in Felix's tunnel setting", async () => {
        const raw: any = labRaw();
        raw.pools[0].ipipMode = "Always";
        const cfg = resolvedConfig(raw);
        expect(cfg.mtu).toBe(1480);
        await buildProgram(cfg);
        expect(conflistOf("cka001").plugins[0].mtu).toBe(1480);
        expect(find("kubernetes:crd.projectcalico.org/v1:FelixConfigurationPatch", "felixconfiguration-default").inputs.spec).toEqual({
            ipipMTU: 1480,
        });
    });
});

const cases: [string, Mutate, string | string[]][] = [
    [
        "VXLAN pool with host-local",
        (r) => {
            Object.assign(r, withIpam("host-local"));
            r.pools[0].vxlanMode = "CrossSubnet";
            r.calicoNode = { backend: "vxlan" };
        },
        'calico:pools[ipv4-ippool-1].vxlanMode = "CrossSubnet": VXLAN does not work with host-local IPAM (cni.ipam), as the operator also refuses; set vxlanMode Never (IPIP or no encapsulation) or use calico-ipam.',
    ],
    [
        "host-local without a node podCIDR",
        (r) => {
            Object.assign(r, withIpam("host-local"));
            delete r.nodes[1].podCidr;
        },
        "calico:nodes[cka002].podCidr = (unset): cni.ipam host-local takes each node's Kubernetes podCIDR; set it to the output of `kubectl get node cka002 -o jsonpath='{.spec.podCIDR}'` (the controller-manager must run with --allocate-node-cidrs).",
    ],
    [
        "spiderpool without a node podCIDR",
        (r) => {
            Object.assign(r, withIpam("spiderpool"));
            delete r.nodes[2].podCidr;
        },
        "calico:nodes[cka003].podCidr = (unset): cni.ipam spiderpool takes each node's Kubernetes podCIDR; set it to the output of `kubectl get node cka003 -o jsonpath='{.spec.podCIDR}'` (the controller-manager must run with --allocate-node-cidrs).",
    ],
    [
        "node podCIDR in a disabled pool",
        (r) => {
            Object.assign(r, withIpam("host-local"));
            r.nodes[0].podCidr = "10.244.192.0/24";
        },
        'calico:nodes[cka001].podCidr = "10.244.192.0/24": is in no enabled pool, so Calico would neither route nor NAT its pods; widen or enable a pool that contains it.',
    ],
    [
        "spiderpool node podCIDR with no usable address",
        (r) => {
            Object.assign(r, withIpam("spiderpool"));
            r.nodes[0].podCidr = "10.244.0.0/31";
        },
        'calico:nodes[cka001].podCidr = "10.244.0.0/31": holds no usable address for a SpiderIPPool; give the node a larger podCIDR (e.g. a /24).',
    ],
    [
        "unknown IPAM",
        (r) => (r.cni.ipam = "whereabouts"),
        'calico:cni.ipam = "whereabouts": is not one of calico-ipam, host-local, spiderpool; use one of them.',
    ],
];

describe("IPAM validation", () => {
    test.each(cases)("%s", (_name, mutate, message) => {
        expect(problemsOf(mutate)).toEqual([message].flat());
    });

    test("calico-ipam needs no podCIDRs, and VXLAN is fine with it", () => {
        expect(problemsOf((r) => (r.pools[0].vxlanMode = "Always"))).toEqual([]);
    });

    test("host-local and spiderpool with every podCIDR in an enabled pool are valid", () => {
        expect(problemsOf((r) => Object.assign(r, withIpam("host-local")))).toEqual([]);
        expect(problemsOf((r) => Object.assign(r, withIpam("spiderpool")))).toEqual([]);
    });

    test("every node without a podCIDR is named at once", () => {
        const msgs = problemsOf((r) => (r.cni.ipam = "host-local"));
        expect(msgs.map((m) => m.split(" = ")[0])).toEqual([
            "calico:nodes[cka001].podCidr",
            "calico:nodes[cka002].podCidr",
            "calico:nodes[cka003].podCidr",
        ]);
    });
});
