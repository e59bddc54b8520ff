import { buildProgram, byType, find, installedConflist, stagedScript } from "./harness";
import { INSTALL_SCRIPT } from "../components/builders/hostBundle";
import { deriveIpv6AutodetectionMethod } from "../components/config/derive";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { Mutate, labRaw, problemsOf, resolvedConfig } from "./fixtures";

/** The lab, dual-stack: an IPv6 range and pool next to the IPv4 ones. */
function dualRaw(): any {
    const raw: any = labRaw();
    raw.cluster.podCidrV6 = "fd00:10:244::/56";
    raw.pools.push({ name: "ipv6-ippool-1", cidr: "fd00:10:244::/64", blockSize: 122 });
    raw.calicoNode = { ipv6: true };
    return raw;
}

describe("a dual-stack cluster under mocks", () => {
    beforeAll(async () => buildProgram(resolvedConfig(dualRaw())));
    const node = () => find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0];
    const env = () => Object.fromEntries(node().env.map((e: any) => [e.name, e.value]));

    test("the CNI plugin assigns every pod an IPv4 and an IPv6 address from calico-ipam", () => {
        for (const n of ["cka001", "cka002", "cka003"]) {
            expect(installedConflist(n).plugins[0].ipam).toEqual({ type: "calico-ipam", assign_ipv4: "true", assign_ipv6: "true" });
        }
    });

    test("calico-node autodetects an IPv6 address too, and Felix programs IPv6", () => {
        expect(env()).toMatchObject({
            IP: "autodetect",
            IP6: "autodetect",
            IP6_AUTODETECTION_METHOD: "first-found",
            FELIX_IPV6SUPPORT: "true",
            FELIX_VXLANMTUV6: "1500",
            FELIX_WIREGUARDMTUV6: "1500",
        });
    });

    test("BIRD and BIRD6 both run, and both are probed", () => {
        expect(node().livenessProbe.exec.command).toEqual(["/bin/calico-node", "-felix-live", "-bird-live", "-bird6-live"]);
        expect(node().readinessProbe.exec.command).toEqual(["/bin/calico-node", "-felix-ready", "-bird-ready", "-bird6-ready"]);
    });

    test("the IPv6 pool is an IPPool next to the IPv4 ones, valid for the pinned CRD", () => {
        const pools = byType("kubernetes:crd.projectcalico.org/v1:IPPool").map((r) => r.inputs);
        expect(pools.map((p) => p.spec.cidr).sort()).toEqual(["10.244.0.0/18", "10.244.192.0/19", "fd00:10:244::/64"]);
        for (const p of pools) expect([schemaErrors(p), unknownSpecKeys(p)]).toEqual([[], []]);
    });

    test("each node's preflight checks IPv6 forwarding", () => {
        expect(stagedScript(INSTALL_SCRIPT)).toContain("fwd ipv6/conf/all/forwarding net.ipv6.conf.all.forwarding");
    });
});

test("an IPv4-only cluster keeps the conflist, env and probes it had", async () => {
    await buildProgram(resolvedConfig());
    expect(installedConflist("cka001").plugins[0].ipam).toEqual({ type: "calico-ipam" });
    const c = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0];
    expect(c.readinessProbe.exec.command).toEqual(["/bin/calico-node", "-felix-ready", "-bird-ready"]);
    expect(c.env.map((e: any) => e.name)).not.toContain("FELIX_VXLANMTUV6");
    expect(stagedScript(INSTALL_SCRIPT)).not.toContain("ipv6/conf");
});

test.each([
    ["first-found", undefined, "first-found"],
    ["interface=eth0", undefined, "interface=eth0"],
    ["kubernetes-internal-ip", undefined, "kubernetes-internal-ip"],
    ["cidr=172.16.0.0/24", undefined, undefined],
    ["can-reach=172.16.0.1", undefined, undefined],
    ["cidr=172.16.0.0/24", "cidr=fd00:172:16::/64", "cidr=fd00:172:16::/64"],
])("IPv4 method %s, IPv6 method %s: IP6_AUTODETECTION_METHOD %s", (v4, v6, expected) => {
    expect(deriveIpv6AutodetectionMethod({ ipAutodetectionMethod: v4, ipv6AutodetectionMethod: v6, ipv6: true } as any)).toBe(expected);
    expect(deriveIpv6AutodetectionMethod({ ipAutodetectionMethod: v4, ipv6AutodetectionMethod: v6, ipv6: false } as any)).toBeUndefined();
});

describe("dual-stack validation", () => {
    test.each<[string, Mutate, string[]]>([
        [
            "an IPv6 pool with no IPv6 pod range",
            (r) => delete r.cluster.podCidrV6,
            [
                'calico:pools[ipv6-ippool-1].cidr = "fd00:10:244::/64": is an IPv6 pool but cluster.podCidrV6 is unset; set it to the cluster\'s IPv6 pod range (kubeadm --pod-network-cidr=<ipv4>,<ipv6>).',
                "calico:cluster.podCidrV6 = (unset): calicoNode.ipv6 makes the cluster dual-stack, which needs its IPv6 pod range; set cluster.podCidrV6 (kubeadm --pod-network-cidr=<ipv4>,<ipv6>).",
            ],
        ],
        [
            "an IPv6 pool outside it",
            (r) => (r.pools[2].cidr = "fd00:10:245::/64"),
            [
                'calico:pools[ipv6-ippool-1].cidr = "fd00:10:245::/64": is outside cluster.podCidrV6 fd00:10:244::/56; pick a range inside it.',
            ],
        ],
        [
            "an IPv4 range as the IPv6 one",
            (r) => (r.cluster.podCidrV6 = "10.245.0.0/16"),
            ['calico:cluster.podCidrV6 = "10.245.0.0/16": is not an IPv6 CIDR; give the cluster\'s IPv6 pod range, e.g. fd00:10:244::/56.'],
        ],
        [
            "an IPv6 range that is no CIDR",
            (r) => (r.cluster.podCidrV6 = "fd00::/129"),
            ['calico:cluster.podCidrV6 = "fd00::/129": is not a CIDR; write it as address/prefix, e.g. fd00:10:244::/56.'],
        ],
        [
            "an IPv6 pool with IPv4's block size",
            (r) => delete r.pools[2].blockSize,
            ["calico:pools[ipv6-ippool-1].blockSize = 26: must be 116-128 for an ipv6 pool; 122 is the usual choice."],
        ],
        [
            "IPIP on an IPv6 pool",
            (r) => (r.pools[2].ipipMode = "Always"),
            [
                'calico:pools[ipv6-ippool-1].ipipMode = "Always": IPIP carries IPv4 only, and this is an IPv6 pool; set ipipMode Never (use vxlanMode for an IPv6 overlay).',
            ],
        ],
        [
            "dual-stack with its only IPv6 pool disabled",
            (r) => (r.pools[2].disabled = true),
            [
                "calico:calicoNode.ipv6 = true: no enabled IPv6 pool, so the CNI plugin could not give pods their IPv6 address; add an IPv6 pool inside cluster.podCidrV6 (blockSize 122 is Calico's default), or set calicoNode.ipv6 false.",
            ],
        ],
        [
            "dual-stack with host-local IPAM",
            (r) => {
                r.cni.ipam = "host-local";
                r.nodes.forEach((n: any, i: number) => (n.podCidr = `10.244.${i}.0/24`));
            },
            [
                'calico:cni.ipam = "host-local": dual-stack (calicoNode.ipv6) is built here for calico-ipam, which assigns each pod an address of both families; use cni.ipam calico-ipam or set calicoNode.ipv6 false.',
            ],
        ],
        [
            "an IPv6 cluster.podCidr",
            (r) => {
                r.cluster.podCidr = "fd00:10:244::/56";
                r.pools = [r.pools[2]];
                delete r.cluster.podCidrV6;
            },
            [
                'calico:cluster.podCidr = "fd00:10:244::/56": is IPv6; this program installs IPv4 or dual-stack clusters, so set cluster.podCidr to the IPv4 pod range and this one as cluster.podCidrV6.',
                "calico:cluster.podCidrV6 = (unset): calicoNode.ipv6 makes the cluster dual-stack, which needs its IPv6 pod range; set cluster.podCidrV6 (kubeadm --pod-network-cidr=<ipv4>,<ipv6>).",
            ],
        ],
        [
            "an IPv6 method that names an IPv4 range",
            (r) => (r.calicoNode.ipv6AutodetectionMethod = "cidr=172.16.0.0/24"),
            [
                'calico:calicoNode.ipv6AutodetectionMethod = "cidr=172.16.0.0/24": lists an IPv4 range; the IPv6 method needs IPv6 ranges, e.g. cidr=fd00:172:16::/64.',
            ],
        ],
        [
            "an IPv6 method that names an IPv4 address",
            (r) => (r.calicoNode.ipv6AutodetectionMethod = "can-reach=8.8.8.8"),
            [
                'calico:calicoNode.ipv6AutodetectionMethod = "can-reach=8.8.8.8": names an IPv4 address; the IPv6 method needs an IPv6 address or a host name, e.g. can-reach=2001:4860:4860::8888.',
            ],
        ],
        [
            "an IPv6 method that does not parse",
            (r) => (r.calicoNode.ipv6AutodetectionMethod = "nic=eth0"),
            [
                'calico:calicoNode.ipv6AutodetectionMethod = "nic=eth0": unknown method "nic"; use first-found, kubernetes-internal-ip, can-reach=<ip or host>, interface=<regex>[,<regex>], skip-interface=<regex>[,<regex>] or cidr=<cidr>[,<cidr>].',
            ],
        ],
        [
            "an IPv6 method or range with IPv6 off",
            (r) => {
                r.pools.pop();
                r.calicoNode = { ipv6: false, ipv6AutodetectionMethod: "interface=eth0" };
            },
            [
                'calico:cluster.podCidrV6 = "fd00:10:244::/56": is set but calicoNode.ipv6 is false, so no pod gets an IPv6 address; set calicoNode.ipv6 true for dual-stack, or remove it.',
                'calico:calicoNode.ipv6AutodetectionMethod = "interface=eth0": is set but calicoNode.ipv6 is false; set calicoNode.ipv6 true or remove it.',
            ],
        ],
    ])("%s", (_name, mutate, expected) => {
        expect(problemsOf(mutate, { start: dualRaw })).toEqual(expected);
    });

    test("the dual-stack lab, with an IPv6 method and VXLAN on the IPv6 pool, is valid", () => {
        expect(
            problemsOf(
                (r) => {
                    r.calicoNode.ipv6AutodetectionMethod = "cidr=fd00:172:16::/64";
                    r.calicoNode.backend = "bird";
                    r.pools[2].vxlanMode = "CrossSubnet";
                },
                { start: dualRaw },
            ),
        ).toEqual([]);
    });
});
