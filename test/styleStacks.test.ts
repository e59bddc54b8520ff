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
