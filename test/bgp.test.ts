import { buildProgram, byType, find, recorded, recordedOpts, withoutCrds, withoutPreflightPeers } from "./harness";
import {
    RR_CLUSTER_ID_ANNOTATION,
    buildBgpConfiguration,
    buildBgpPeers,
    buildRouteReflectorNodePatch,
    routeReflectors,
} from "../components/builders/bgp";
import { rawConfigSchema } from "../components/config/schema";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { Mutate, labRaw, problemsOf, resolvedConfig } from "./fixtures";
import { buildFelixConfiguration, felixSettings } from "../components/builders/felixSettings";

const NO_FELIX = { wireguard: { ipv4: false, ipv6: false }, settings: {} };

// zod's defaults for calico:bgp, read from the schema rather than written out again.
const defaults = rawConfigSchema.shape.bgp.parse({});
const tor = { name: "rack1-tor", peerIP: "172.16.0.254", asNumber: 64513 };

/** The lab with cka001 and cka002 as reflectors, the mesh off, a ToR peer and the service range advertised. */
function rrRaw(): any {
    const raw: any = labRaw();
    raw.nodes[0].routeReflectorClusterId = "244.0.0.1";
    raw.nodes[1].routeReflectorClusterId = "244.0.0.1";
    raw.bgp = {
        asNumber: 63400,
        nodeToNodeMesh: false,
        serviceClusterIPs: ["10.96.0.0/12"],
        peers: [{ ...tor, nodeSelector: "rack == 'rack-1'" }],
    };
    raw.felix = { logSeverity: "Warning", prometheusMetricsEnabled: true, prometheusMetricsPort: 9091 };
    return raw;
}

const CR = (kind: string) => `kubernetes:crd.projectcalico.org/v1:${kind}`;

describe("BGP builders", () => {
    test("the default BGPConfiguration carries AS, mesh and log level, and no service ranges unless asked", () => {
        const obj: any = buildBgpConfiguration(defaults);
        expect(obj).toMatchObject({ apiVersion: "crd.projectcalico.org/v1", kind: "BGPConfiguration", metadata: { name: "default" } });
        expect(obj.spec).toEqual({ asNumber: 64512, nodeToNodeMeshEnabled: true, logSeverityScreen: "Info" });
        const adv: any = buildBgpConfiguration({ ...defaults, serviceClusterIPs: ["10.96.0.0/12"], serviceExternalIPs: ["192.0.2.0/24"] });
        expect(adv.spec.serviceClusterIPs).toEqual([{ cidr: "10.96.0.0/12" }]);
        expect(adv.spec.serviceExternalIPs).toEqual([{ cidr: "192.0.2.0/24" }]);
    });

    test("reflectors peer with each other and every other node peers with the reflectors", () => {
        const peers = buildBgpPeers([], [{ nodeName: "cka001", clusterId: "244.0.0.1" }]);
        expect(Object.fromEntries(Object.entries(peers).map(([n, p]: [string, any]) => [n, p.spec]))).toEqual({
            "route-reflector-mesh": { nodeSelector: "has(route-reflector)", peerSelector: "has(route-reflector)" },
            "peer-with-route-reflectors": { nodeSelector: "!has(route-reflector)", peerSelector: "has(route-reflector)" },
        });
    });

    test("no reflectors, no reflector peers; external peers take every node unless a selector is given", () => {
        // The default is the schema's: the builder takes the resolved peers.
        const raw = { ...labRaw(), bgp: { peers: [tor, { ...tor, name: "rack2-tor", nodeSelector: "rack == 'rack-2'" }] } };
        const peers: any = buildBgpPeers(resolvedConfig(raw).bgp.peers, []);
        expect(Object.keys(peers)).toEqual(["rack1-tor", "rack2-tor"]);
        expect(peers["rack1-tor"].spec).toEqual({ peerIP: "172.16.0.254", asNumber: 64513, nodeSelector: "all()" });
        expect(peers["rack2-tor"].spec.nodeSelector).toBe("rack == 'rack-2'");
    });

    test("the node patch names only the reflector label and the cluster ID annotation", () => {
        const patch: any = buildRouteReflectorNodePatch({ nodeName: "cka002", clusterId: "244.0.0.1" });
        expect(Object.keys(patch)).toEqual(["metadata"]);
        expect(patch.metadata.name).toBe("cka002");
        expect(patch.metadata.labels).toEqual({ "route-reflector": "true" });
        expect(patch.metadata.annotations[RR_CLUSTER_ID_ANNOTATION]).toBe("244.0.0.1");
        expect(RR_CLUSTER_ID_ANNOTATION).toBe("projectcalico.org/RouteReflectorClusterID");
        expect(patch.metadata.annotations["pulumi.com/patchFieldManager"]).toBe("calico-hard-way");
    });

    test("routeReflectors lists only the nodes with a cluster ID", () => {
        expect(routeReflectors([{ name: "a", routeReflectorClusterId: "1.0.0.1" }, { name: "b" }])).toEqual([
            { nodeName: "a", clusterId: "1.0.0.1" },
        ]);
    });

    test("FelixConfiguration holds only what config sets; none at all when nothing is set", () => {
        const pools = [{ cidr: "10.244.0.0/16", ipipMode: "Never" as const, vxlanMode: "Never" as const, disabled: false }];
        expect(buildFelixConfiguration(felixSettings({ felix: NO_FELIX, pools, mtu: 1500 }))).toBeUndefined();
        const obj: any = buildFelixConfiguration(
            felixSettings({ felix: { ...NO_FELIX, prometheusMetricsEnabled: true }, pools, mtu: 1500 }),
        );
        expect(obj.metadata.name).toBe("default");
        expect(obj.spec).toEqual({ prometheusMetricsEnabled: true });
    });

    test("the tunnel MTUs follow the enabled pools and equal the conflist MTU", () => {
        const s = felixSettings({
            felix: NO_FELIX,
            pools: [
                { cidr: "10.244.0.0/17", ipipMode: "CrossSubnet", vxlanMode: "Never", disabled: false },
                { cidr: "10.244.128.0/17", ipipMode: "Never", vxlanMode: "Always", disabled: true },
            ],
            mtu: 1480,
        });
        expect(s).toMatchObject({ ipipMtu: 1480, vxlanMtu: undefined });
        expect((buildFelixConfiguration(s) as any).spec).toEqual({ ipipMTU: 1480 });
    });
});

describe("BGP objects against the pinned CRD schemas", () => {
    const cfg = resolvedConfig(rrRaw());
    const objects: Record<string, unknown>[] = [
        buildBgpConfiguration({ ...cfg.bgp }),
        ...Object.values(buildBgpPeers(cfg.bgp.peers, routeReflectors(cfg.nodes))),
        buildFelixConfiguration({ ...felixSettings(cfg), ipipMtu: 1480, vxlanMtu: 1450 })!,
    ];
    test.each(objects.map((o: any) => [`${o.kind}/${o.metadata.name}`, o]))("%s validates", (_n, obj) => {
        expect(schemaErrors(obj)).toEqual([]);
        expect(unknownSpecKeys(obj)).toEqual([]);
    });

    test("the schema check can fail", () => {
        const bad: any = buildBgpConfiguration(defaults);
        bad.spec.logSeverityScreen = "Loud";
        bad.spec.asNumber = "64512";
        expect(schemaErrors(bad).length).toBeGreaterThan(0);
        expect(unknownSpecKeys({ ...bad, spec: { ...bad.spec, nodeToNodeMesh: false } })).toEqual(["nodeToNodeMesh"]);
    });
});

describe("the route-reflector cluster under mocks", () => {
    beforeAll(async () => buildProgram(resolvedConfig(rrRaw())));

    test("marks the reflector Nodes with patches, not Node resources", () => {
        const patches = byType("kubernetes:core/v1:NodePatch");
        expect(patches.map((p) => p.name).sort()).toEqual(["cka001-route-reflector", "cka002-route-reflector"]);
        expect(byType("kubernetes:core/v1:Node")).toEqual([]);
        const p = find("kubernetes:core/v1:NodePatch", "cka002-route-reflector");
        expect(p.inputs.metadata.labels).toEqual({ "route-reflector": "true" });
        expect(p.inputs.metadata.annotations[RR_CLUSTER_ID_ANNOTATION]).toBe("244.0.0.1");
    });

    test("creates the reflector peers and the external peer", () => {
        expect(
            byType(CR("BGPPeer"))
                .map((p) => p.inputs.metadata.name)
                .sort(),
        ).toEqual(["peer-with-route-reflectors", "rack1-tor", "route-reflector-mesh"]);
        expect(find(CR("BGPPeer"), "bgppeer-rack1-tor").inputs.spec).toEqual({
            peerIP: "172.16.0.254",
            asNumber: 64513,
            nodeSelector: "rack == 'rack-1'",
        });
    });

    test("turns the mesh off in the BGPConfiguration, with AS and the advertised service range", () => {
        const bgp = find(CR("BGPConfigurationPatch"), "bgpconfiguration-default");
        expect(bgp.inputs.spec).toEqual({
            asNumber: 63400,
            nodeToNodeMeshEnabled: false,
            logSeverityScreen: "Info",
            serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
        });
    });

    test("the BGPConfiguration depends on every peer and every reflector mark", () => {
        const opts = recordedOpts.find((o) => o.name === "bgpconfiguration-default")!;
        expect(opts.dependsOn).toContain("bgpconfigurations.crd.projectcalico.org");
        expect(withoutCrds(opts.dependsOn).sort()).toEqual([
            "bgppeer-peer-with-route-reflectors",
            "bgppeer-rack1-tor",
            "bgppeer-route-reflector-mesh",
            "cka001-route-reflector",
            "cka002-route-reflector",
        ]);
    });

    test("patches the default FelixConfiguration with the configured knobs only", () => {
        expect(find(CR("FelixConfigurationPatch"), "felixconfiguration-default").inputs.spec).toEqual({
            logSeverityScreen: "Warning",
            prometheusMetricsEnabled: true,
            prometheusMetricsPort: 9091,
        });
    });

    test("the Bgp component parents its children, and each of them waits for the CRDs", () => {
        expect(recordedOpts.find((o) => o.type === "calico:index:Bgp")).toMatchObject({ parent: "calico" });
        for (const name of ["bgpconfiguration-default", "felixconfiguration-default", "bgppeer-rack1-tor", "cka001-route-reflector"]) {
            expect(recordedOpts.find((o) => o.name === name)?.parent).toBe("bgp");
            expect(recordedOpts.find((o) => o.name === name)?.dependsOn).toContain("bgppeers.crd.projectcalico.org");
        }
    });
});

describe("BGP resource identity follows names, not positions", () => {
    const snapshot = () => recorded.map((r) => `${r.type}::${r.name}::${JSON.stringify(r.inputs)}`).sort();

    test("reordering nodes and peers changes nothing", async () => {
        const raw = rrRaw();
        raw.bgp.peers.push({ ...tor, name: "rack2-tor", peerIP: "172.16.0.253" });
        await buildProgram(resolvedConfig(raw));
        const first = snapshot();
        raw.nodes.reverse();
        raw.bgp.peers.reverse();
        await buildProgram(resolvedConfig(raw));
        expect(snapshot()).toEqual(first);
    });

    test("dropping one reflector or one peer removes only its own resource", async () => {
        const raw = rrRaw();
        raw.bgp.peers.push({ ...tor, name: "rack2-tor", peerIP: "172.16.0.253" });
        await buildProgram(resolvedConfig(raw));
        const all = snapshot();
        delete raw.nodes[1].routeReflectorClusterId;
        raw.bgp.peers = raw.bgp.peers.filter((p: any) => p.name !== "rack2-tor");
        await buildProgram(resolvedConfig(raw));
        const fewer = snapshot();
        const gone = all.filter((r) => !fewer.includes(r)).map((r) => r.split("::")[1]);
        const changed = fewer.filter((r) => !all.includes(r)).map((r) => r.split("::")[1]);
        expect(gone.filter((n) => !changed.includes(n)).sort()).toEqual(["bgppeer-rack2-tor", "cka002-route-reflector"]);
        // Besides the Bgp component, whose args list the reflectors and peers, only the nodes' preflight
        // peer lists change: with the mesh off, who peers with whom follows the reflectors.
        const peerless = (rs: string[]) => rs.map((r) => (r.startsWith("command:remote:Command::") ? withoutPreflightPeers(r) : r));
        expect(
            peerless(fewer)
                .filter((r) => !peerless(all).includes(r))
                .map((r) => r.split("::")[1]),
        ).toEqual(changed.filter((n) => n === "bgp"));
    });
});

describe("the lab under mocks", () => {
    test("gets a default BGPConfiguration with the mesh on, and no peers, patches or Felix changes", async () => {
        await buildProgram(resolvedConfig());
        expect(find(CR("BGPConfigurationPatch"), "bgpconfiguration-default").inputs.spec).toEqual({
            asNumber: 64512,
            nodeToNodeMeshEnabled: true,
            logSeverityScreen: "Info",
        });
        expect(byType(CR("BGPPeer"))).toEqual([]);
        expect(byType("kubernetes:core/v1:NodePatch")).toEqual([]);
        expect(byType(CR("FelixConfigurationPatch"))).toEqual([]);
    });
});

const cases: [string, Mutate, string | string[]][] = [
    [
        "malformed peer node selector",
        (r) => (r.bgp = { peers: [{ ...tor, nodeSelector: "rack == 'a' &&& x" }] }),
        `calico:bgp.peers[${tor.name}].nodeSelector = "rack == 'a' &&& x": is not a Calico selector (unexpected "&" at character 15); write e.g. all(), has(zone) or zone == "a".`,
    ],
    [
        "AS number 0",
        (r) => (r.bgp = { asNumber: 0 }),
        "calico:bgp.asNumber = 0: is not a BGP AS number; use 1-4294967295 (private ranges: 64512-65534, 4200000000-4294967294).",
    ],
    [
        "AS number above 32 bits",
        (r) => (r.bgp = { asNumber: 4294967296 }),
        "calico:bgp.asNumber = 4294967296: is not a BGP AS number; use 1-4294967295 (private ranges: 64512-65534, 4200000000-4294967294).",
    ],
    [
        "peer AS number",
        (r) => (r.bgp = { peers: [{ ...tor, asNumber: -1 }] }),
        "calico:bgp.peers[rack1-tor].asNumber = -1: is not a BGP AS number; use 1-4294967295 (private ranges: 64512-65534, 4200000000-4294967294).",
    ],
    [
        "peer IP",
        (r) => (r.bgp = { peers: [{ ...tor, peerIP: "172.16.0.300" }] }),
        'calico:bgp.peers[rack1-tor].peerIP = "172.16.0.300": is not an IP address; give the router\'s address, e.g. 172.16.0.254.',
    ],
    [
        "peer name",
        (r) => (r.bgp = { peers: [{ ...tor, name: "Rack 1" }] }),
        "calico:bgp.peers[Rack 1].name = \"Rack 1\": is not a valid resource name; use lower-case letters, digits, '-' and '.'.",
    ],
    [
        "peer named like a reflector peer",
        (r) => (r.bgp = { peers: [{ ...tor, name: "route-reflector-mesh" }] }),
        'calico:bgp.peers[route-reflector-mesh].name = "route-reflector-mesh": is the name of a route-reflector peer this program creates; pick another name.',
    ],
    [
        "duplicate peer names",
        (r) => (r.bgp = { peers: [tor, { ...tor, peerIP: "172.16.0.253" }] }),
        'calico:bgp.peers = "rack1-tor": peer name "rack1-tor" is used 2 times; give each peer its own name.',
    ],
    [
        "cluster ID not dotted IPv4",
        (r) => (r.nodes[0].routeReflectorClusterId = "rr-1"),
        'calico:nodes[cka001].routeReflectorClusterId = "rr-1": is not a dotted IPv4 cluster ID; use an unused address such as 244.0.0.1, the same on every reflector.',
    ],
    [
        "cluster ID out of range",
        (r) => (r.nodes[0].routeReflectorClusterId = "244.0.0.256"),
        'calico:nodes[cka001].routeReflectorClusterId = "244.0.0.256": is not a dotted IPv4 cluster ID; use an unused address such as 244.0.0.1, the same on every reflector.',
    ],
    [
        "mesh off with nothing to replace it",
        (r) => (r.bgp = { nodeToNodeMesh: false }),
        "calico:bgp.nodeToNodeMesh = false: turning the mesh off with no route reflectors and no BGP peers would cut every route between nodes; mark nodes with routeReflectorClusterId, add bgp.peers, or keep the mesh on.",
    ],
    [
        "service cluster IP range",
        (r) => (r.bgp = { serviceClusterIPs: ["10.96.0.0/33"] }),
        'calico:bgp.serviceClusterIPs = "10.96.0.0/33": is not a CIDR; write it as address/prefix, e.g. 10.244.0.0/16.',
    ],
    [
        "service external IP range",
        (r) => (r.bgp = { serviceExternalIPs: ["192.0.2.1/24"] }),
        'calico:bgp.serviceExternalIPs = "192.0.2.1/24": has host bits set; use the network address 192.0.2.0/24.',
    ],
    [
        "BGP settings with the vxlan backend",
        (r) => {
            r.calicoNode = { backend: "vxlan" };
            r.bgp = { peers: [tor] };
        },
        'calico:calicoNode.backend = "vxlan": BGP settings are configured (peers, route reflectors, mesh off or service advertisement) but only the bird backend runs BGP; set calicoNode.backend to bird or remove them.',
    ],
    [
        "route reflectors with no backend",
        (r) => {
            r.calicoNode = { backend: "none" };
            r.nodes[0].routeReflectorClusterId = "244.0.0.1";
        },
        'calico:calicoNode.backend = "none": BGP settings are configured (peers, route reflectors, mesh off or service advertisement) but only the bird backend runs BGP; set calicoNode.backend to bird or remove them.',
    ],
    [
        "unknown log severity",
        (r) => (r.bgp = { logSeverity: "Loud" }),
        'calico:bgp.logSeverity = "Loud": is not one of Debug, Info, Warning, Error, Fatal; use one of them.',
    ],
    [
        "metrics port out of range",
        (r) => (r.felix = { prometheusMetricsEnabled: true, prometheusMetricsPort: 70000 }),
        "calico:felix.prometheusMetricsPort = 70000: is not a TCP port; use 1-65535 (Felix's default is 9091).",
    ],
    [
        "metrics port without metrics",
        (r) => (r.felix = { prometheusMetricsPort: 9091 }),
        "calico:felix.prometheusMetricsPort = 9091: is set but felix.prometheusMetricsEnabled is not true, so nothing listens on it; enable the metrics or remove the port.",
    ],
];

describe("BGP validation", () => {
    test.each(cases)("%s", (_name, mutate, message) => {
        expect(problemsOf(mutate)).toEqual([message].flat());
    });

    test("the route-reflector config is valid, and so is mesh off with only external peers", () => {
        expect(problemsOf((r) => Object.assign(r, rrRaw()))).toEqual([]);
        expect(problemsOf((r) => (r.bgp = { nodeToNodeMesh: false, peers: [tor] }))).toEqual([]);
    });

    test("reports every BGP problem at once", () => {
        const all = problemsOf((r) => {
            r.bgp = { asNumber: 0, nodeToNodeMesh: false, serviceClusterIPs: ["x"] };
            r.nodes[0].routeReflectorClusterId = "nope";
        });
        expect(all).toHaveLength(3);
    });
});
