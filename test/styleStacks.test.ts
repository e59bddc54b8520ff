import { buildProgram, byType, find, installedConflist, installedFiles, recorded, recordedOpts, withoutCrds } from "./harness";
import { formatProblem } from "../components/config/problems";
import type { CalicoConfig } from "../components/config/types";
import { resolveConfig } from "../components/config/resolve";
import { RR_PEER_NAMES } from "../components/facts/names";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { CRDS_FILE, fakeEnv, stackFiles } from "./fixtures";

// The three install styles' stack files build what their comments promise.

function stackConfig(file: string): CalicoConfig {
    const stack = stackFiles().find((s) => s.file === file);
    if (!stack) throw new Error(`no ${file}`);
    const raw: any = { ...stack.raw };
    if (raw.datastore?.type !== "etcd") raw.datastore = { ...raw.datastore, crdsFile: CRDS_FILE };
    const v = resolveConfig(raw, stack.secrets, fakeEnv);
    if (!v.ok) throw new Error(v.problems.map(formatProblem).join("\n"));
    return v.config;
}

const calicoObjects = () => recorded.filter((r) => r.type.startsWith("kubernetes:crd.projectcalico.org/v1:"));

describe("Pulumi.rr.yaml", () => {
    beforeAll(async () => buildProgram(stackConfig("Pulumi.rr.yaml")));

    test("turns the mesh off after both reflector peers, the ToR peer and the two reflector marks", () => {
        expect(
            find("kubernetes:crd.projectcalico.org/v1:BGPConfigurationPatch", "bgpconfiguration-default").inputs.spec.nodeToNodeMeshEnabled,
        ).toBe(false);
        expect(withoutCrds(recordedOpts.find((o) => o.name === "bgpconfiguration-default")?.dependsOn).sort()).toEqual([
            "bgppeer-peer-with-route-reflectors",
            "bgppeer-rack1-tor",
            "bgppeer-route-reflector-mesh",
            "rr-cp-1-route-reflector",
            "rr-worker-1-route-reflector",
        ]);
    });

    test("every Calico object it makes fits the pinned CRD schema", () => {
        const objects = calicoObjects();
        const cfg = stackConfig("Pulumi.rr.yaml");
        const peers = [...Object.values(RR_PEER_NAMES), ...cfg.bgp.peers.map((p) => p.name)];
        // The file sets calico:felix, so the FelixConfiguration patch is there too.
        expect(objects.map((o) => `${o.inputs.kind}/${o.inputs.metadata.name}`).sort()).toEqual(
            [
                ...cfg.pools.map((p) => `IPPool/${p.name}`),
                ...peers.map((n) => `BGPPeer/${n}`),
                "BGPConfiguration/default",
                "FelixConfiguration/default",
            ].sort(),
        );
        for (const o of objects) {
            const obj = { ...o.inputs, kind: String(o.inputs.kind) };
            expect([obj.kind, schemaErrors(obj), unknownSpecKeys(obj)]).toEqual([obj.kind, [], []]);
        }
    });
});

describe("Pulumi.etcd.yaml", () => {
    beforeAll(async () => buildProgram(stackConfig("Pulumi.etcd.yaml")));

    test("writes the etcd client files and an etcdv3 conflist on every node, and no CRDs", () => {
        for (const node of ["etcd-cp-1", "etcd-worker-1", "etcd-worker-2"]) {
            expect(installedConflist(node).plugins[0].datastore_type).toBe("etcdv3");
            expect(
                installedFiles(node)
                    .filter((f) => f.path.includes("/calico-tls/"))
                    .map((f) => [f.path.replace(/.*\//, ""), f.mode]),
            ).toEqual([
                ["etcd-ca", "0600"],
                ["etcd-cert", "0600"],
                ["etcd-key", "0600"],
            ]);
        }
        expect(byType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")).toEqual([]);
    });
});

describe("Pulumi.hostlocal.yaml", () => {
    beforeAll(async () => buildProgram(stackConfig("Pulumi.hostlocal.yaml")));

    test("every conflist takes the node's podCIDR and chains the bandwidth plugin", () => {
        for (const node of ["hl-cp-1", "hl-worker-1", "hl-worker-2"]) {
            const conflist = installedConflist(node);
            expect(conflist.plugins[0].ipam).toEqual({ type: "host-local", subnet: "usePodCidr" });
            expect(conflist.plugins.map((p: any) => p.type)).toEqual(["calico", "portmap", "bandwidth"]);
        }
    });
});

describe("Pulumi.dualstack.yaml", () => {
    beforeAll(async () => buildProgram(stackConfig("Pulumi.dualstack.yaml")));

    test("gives every pod both families on the nftables dataplane, BIRD6 probed, every Calico object valid", () => {
        for (const node of ["ds-cp-1", "ds-worker-1", "ds-worker-2"]) {
            expect(installedConflist(node).plugins[0].ipam).toEqual({ type: "calico-ipam", assign_ipv4: "true", assign_ipv6: "true" });
        }
        const c = find("kubernetes:apps/v1:DaemonSet", "calico-node").inputs.spec.template.spec.containers[0];
        expect(c.env).toEqual(
            expect.arrayContaining([
                { name: "IP6", value: "autodetect" },
                { name: "IP6_AUTODETECTION_METHOD", value: "cidr=fd00:172:16:4::/64" },
                { name: "FELIX_IPV6SUPPORT", value: "true" },
                { name: "FELIX_NFTABLESMODE", value: "Enabled" },
            ]),
        );
        expect(c.readinessProbe.exec.command).toContain("-bird6-ready");
        for (const o of calicoObjects()) {
            const obj = { ...o.inputs, kind: String(o.inputs.kind) };
            expect([obj.kind, schemaErrors(obj), unknownSpecKeys(obj)]).toEqual([obj.kind, [], []]);
        }
    });
});

describe("Pulumi.ebpf.yaml", () => {
    beforeAll(async () => buildProgram(stackConfig("Pulumi.ebpf.yaml")));

    test("runs eBPF in kube-proxy's place with WireGuard, its settings in a valid FelixConfiguration", () => {
        const felix = find("kubernetes:crd.projectcalico.org/v1:FelixConfigurationPatch", "felixconfiguration-default").inputs;
        expect(felix.spec).toEqual({
            featureDetectOverride: "ChecksumOffloadBroken=true",
            bpfExternalServiceMode: "dsr",
            wireguardEnabled: true,
            vxlanMTU: 1440,
            wireguardMTU: 1440,
        });
        for (const o of calicoObjects()) {
            const obj = { ...o.inputs, kind: String(o.inputs.kind) };
            expect([obj.kind, schemaErrors(obj), unknownSpecKeys(obj)]).toEqual([obj.kind, [], []]);
        }
        expect(find("kubernetes:core/v1:ConfigMap", "kubernetes-services-endpoint").inputs.data).toEqual({
            KUBERNETES_SERVICE_HOST: "172.16.5.10",
            KUBERNETES_SERVICE_PORT: "6443",
        });
        expect(installedConflist("bpf-worker-1").plugins[0].mtu).toBe(1440);
        expect(installedFiles("bpf-worker-1").map((f) => f.path)).toContain("/etc/NetworkManager/conf.d/calico.conf");
    });
});
