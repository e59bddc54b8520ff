import { buildProgram, find, installedConflist, stagedScript } from "./harness";
import { INSTALL_SCRIPT } from "../components/builders/hostBundle";
import { derivePodMtu } from "../components/config/derive";
import { MTU_OVERHEAD } from "../components/config/mtu";
import { rawConfigSchema } from "../components/config/schema";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { Mutate, labRaw, problemsOf, resolvedConfig } from "./fixtures";

// WireGuard needs a kernel module the sandbox lacks, so these are the objects only: Felix's settings, the
// MTUs in the conflist and in Felix, and the validation.

/** The lab, dual-stack, with the given encapsulations. */
function raw(o: { ipip?: boolean; vxlan?: boolean; vxlanV6?: boolean; wg?: boolean; wgV6?: boolean } = {}): any {
    const r: any = labRaw();
    r.cluster.podCidrV6 = "fd00:10:244::/56";
    r.pools[0].ipipMode = o.ipip ? "Always" : "Never";
    r.pools[0].vxlanMode = o.vxlan ? "Always" : "Never";
    r.pools.push({ name: "ipv6-ippool-1", cidr: "fd00:10:244::/64", blockSize: 122, vxlanMode: o.vxlanV6 ? "Always" : "Never" });
    r.calicoNode = { ipv6: true };
    r.felix = { wireguard: { ipv4: o.wg ?? false, ipv6: o.wgV6 ?? false } };
    return r;
}

test("the overheads are Felix's (felix/dataplane/linux/int_dataplane.go)", () => {
    expect(MTU_OVERHEAD).toEqual({ ipip: 20, vxlan: 50, vxlanV6: 70, wireguard: 60, wireguardV6: 80 });
});

// Felix gives pods the smallest MTU among the encapsulations in use: the network MTU less the largest overhead.
test.each<[string, Parameters<typeof raw>[0], number]>([
    ["no encapsulation", {}, 1500],
    ["IPIP", { ipip: true }, 1480],
    ["VXLAN", { vxlan: true }, 1450],
    ["IPv6 VXLAN", { vxlanV6: true }, 1430],
    ["WireGuard", { wg: true }, 1440],
    ["WireGuard over IPIP", { ipip: true, wg: true }, 1440],
    ["WireGuard over VXLAN", { vxlan: true, wg: true }, 1440],
    ["IPv6 WireGuard", { wgV6: true }, 1420],
    ["both WireGuards and IPv6 VXLAN", { wg: true, wgV6: true, vxlanV6: true }, 1420],
])("%s: pod MTU %d", (_name, o, mtu) => {
    expect(derivePodMtu(rawConfigSchema.parse(raw(o)))).toBe(mtu);
    expect(resolvedConfig(raw(o)).mtu).toBe(mtu);
});

describe("WireGuard on both families under mocks", () => {
    beforeAll(async () => buildProgram(resolvedConfig(raw({ vxlan: true, wg: true, wgV6: true }))));

    test("turns WireGuard on in the default FelixConfiguration, every tunnel at the pod MTU, valid for the pinned CRD", () => {
        const obj = find("kubernetes:crd.projectcalico.org/v1:FelixConfigurationPatch", "felixconfiguration-default").inputs;
        expect(obj.spec).toEqual({
            wireguardEnabled: true,
            wireguardEnabledV6: true,
            vxlanMTU: 1420,
            wireguardMTU: 1420,
            wireguardMTUV6: 1420,
        });
        const asCr = { ...obj, kind: "FelixConfiguration" };
        expect([schemaErrors(asCr), unknownSpecKeys(asCr)]).toEqual([[], []]);
    });

    test("the conflist, calico-node's env and Felix agree on the MTU", () => {
        expect(installedConflist("cka001").plugins[0].mtu).toBe(1420);
        const env = Object.fromEntries(
            find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0].env.map((e: any) => [
                e.name,
                e.value,
            ]),
        );
        expect(env).toMatchObject({
            FELIX_WIREGUARDMTU: "1420",
            FELIX_WIREGUARDMTUV6: "1420",
            FELIX_VXLANMTU: "1420",
            FELIX_IPINIPMTU: "1420",
        });
    });

    test("NetworkManager must leave the WireGuard devices alone too", () => {
        const create = stagedScript(INSTALL_SCRIPT);
        for (const dev of ["wireguard.cali", "wg-v6.cali", "vxlan.calico"]) expect(create).toContain(`interface-name:${dev}`);
        expect(create).not.toContain("interface-name:tunl*");
    });
});

describe("WireGuard and MTU validation", () => {
    test.each<[string, Mutate, string[]]>([
        [
            "IPv6 WireGuard on an IPv4 cluster",
            (r) => (r.felix = { wireguard: { ipv6: true } }),
            [
                "calico:felix.wireguard.ipv6 = true: encrypts IPv6 pod traffic, but calicoNode.ipv6 is false, so there is none; set calicoNode.ipv6 true (dual-stack) or remove it.",
            ],
        ],
        [
            "a pod MTU WireGuard's header does not fit under",
            (r) => {
                r.felix = { wireguard: { ipv4: true } };
                r.cni.mtu = 1450;
            },
            [
                "calico:cni.mtu = 1450: is more than cluster.networkMtu 1500 less the 60 bytes WireGuard adds (1440), so full-sized pod packets would not fit; use at most 1440, or leave it unset to derive it.",
            ],
        ],
        [
            "a pod MTU above the network's",
            (r) => (r.cni.mtu = 9000),
            [
                "calico:cni.mtu = 9000: is more than cluster.networkMtu 1500, so full-sized pod packets would not fit; use at most 1500, or leave it unset to derive it.",
            ],
        ],
        [
            "an unknown WireGuard key",
            (r) => (r.felix = { wireguard: { ipv4: true, mtu: 1400 } }),
            [
                "calico:felix.wireguard.mtu = 1400: is not a known key; check its spelling against the config reference (docs/configuration.md).",
            ],
        ],
    ])("%s", (_name, mutate, expected) => {
        expect(problemsOf(mutate)).toEqual(expected);
    });

    test("jumbo frames: a large pod MTU is fine when the network carries it", () => {
        expect(
            problemsOf((r) => {
                r.cluster.networkMtu = 9000;
                r.cni.mtu = 8940;
                r.felix = { wireguard: { ipv4: true } };
            }),
        ).toEqual([]);
    });
});
