import { buildProgram, byType, find, plain, previousStackOutputs, recorded, recordedOpts, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { parseAllDocuments } from "yaml";
import { buildBgpConfiguration, buildBgpPeers } from "../components/builders/bgp";
import { buildFelixConfiguration } from "../components/builders/felixSettings";
import {
    APPLIED_OUTPUT,
    CALICOCTL_BIN,
    CalicoResourceInputs,
    RESOURCES_CONFIGMAP,
    RESOURCES_KEY,
    appliedNames,
    asAppliedNames,
    buildCalicoctlJob,
    buildResourcesConfigMap,
    calicoResourceDocuments,
    contentHash,
    nextApplied,
    pruneTargets,
    renderResourceStream,
} from "../components/builders/calicoctlApply";
import { CALICO_CONFIG, ETCD_ENDPOINTS_KEY, buildCalicoConfig, buildEtcdSecret } from "../components/builders/etcdClient";
import { buildIpPool } from "../components/builders/ippool";
import { ETCD_CERTS } from "../components/builders/pod";
import { CALICO_CRD_API_VERSION, MANAGED_BY_LABELS } from "../components/facts/names";
import { Calico } from "../components/calico";
import { formatProblem } from "../components/config/problems";
import type { PoolConfig } from "../components/config/schema";
import { resolveConfig } from "../components/config/resolve";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { TEST_CERT_PEM, TEST_KEY_PEM, fakeEnv, labRaw, labSecrets, stackFiles, resolvedConfig } from "./fixtures";

const JOB = "kubernetes:batch/v1:Job";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
const DAEMONSET = "kubernetes:apps/v1:DaemonSet";
const ENDPOINTS = ["https://172.16.0.11:2379"];

function pool(name: string, cidr: string, extra: Partial<PoolConfig> = {}): PoolConfig {
    return {
        name,
        cidr,
        blockSize: 26,
        ipipMode: "Always",
        vxlanMode: "Never",
        natOutgoing: true,
        disabled: false,
        disableBGPExport: false,
        ...extra,
    } as PoolConfig;
}

function inputs(over: Partial<CalicoResourceInputs> = {}): CalicoResourceInputs {
    return {
        pools: [pool("pool-b", "10.244.64.0/18"), pool("pool-a", "10.244.0.0/18", { nodeSelector: "rack == 'a'" })],
        bgp: {
            asNumber: 63400,
            nodeToNodeMesh: false,
            logSeverity: "Warning",
            serviceClusterIPs: ["10.96.0.0/12"],
            serviceExternalIPs: [],
            peers: [{ name: "tor", peerIP: "172.16.0.254", asNumber: 64513 }],
        },
        reflectors: [],
        felix: { logSeverity: "Debug", ipipMtu: 1480 },
        ...over,
    } as CalicoResourceInputs;
}

/** A v3 document read as the v1 custom resource of the same kind: the spec schemas are the same. */
function asCrd(doc: Record<string, unknown>): Record<string, unknown> {
    return { ...doc, apiVersion: CALICO_CRD_API_VERSION };
}

describe("the projectcalico.org/v3 documents", () => {
    const docs = calicoResourceDocuments(inputs());

    test("pools by name, then peers, then the BGPConfiguration, then the FelixConfiguration", () => {
        expect(docs.map((d) => `${d.kind}/${(d.metadata as { name: string }).name}`)).toEqual([
            "IPPool/pool-a",
            "IPPool/pool-b",
            "BGPPeer/tor",
            "BGPConfiguration/default",
            "FelixConfiguration/default",
        ]);
        expect(docs.every((d) => d.apiVersion === "projectcalico.org/v3")).toBe(true);
    });

    test("each is the Kubernetes datastore's object with the v3 API version, the managed-by labels and no patch annotations", () => {
        const i = inputs();
        const v1 = [
            buildIpPool(i.pools[1]!),
            buildIpPool(i.pools[0]!),
            ...Object.values(buildBgpPeers(i.bgp.peers, [])),
            buildBgpConfiguration(i.bgp),
            buildFelixConfiguration(i.felix)!,
        ];
        expect(docs.map((d) => d.spec)).toEqual(v1.map((o) => o.spec));
        for (const d of docs) expect(d.metadata).toEqual({ name: (d.metadata as { name: string }).name, labels: { ...MANAGED_BY_LABELS } });
    });

    test("every document fits the pinned schema of its kind, with no field the schema lacks", () => {
        for (const d of docs) {
            expect([d.kind, schemaErrors(asCrd(d)), unknownSpecKeys(asCrd(d))]).toEqual([d.kind, [], []]);
        }
    });

    test("no FelixConfiguration when no knob is set; the BGPConfiguration is always there", () => {
        const kinds = calicoResourceDocuments(inputs({ felix: { settings: {} }, bgp: { ...inputs().bgp, peers: [] } })).map((d) => d.kind);
        expect(kinds).toEqual(["IPPool", "IPPool", "BGPConfiguration"]);
    });

    test("the stream parses back to the documents, keys sorted, the same bytes whatever the config order", () => {
        const stream = renderResourceStream(docs);
        expect(parseAllDocuments(stream).map((d) => d.toJS())).toEqual(docs);
        for (const d of parseAllDocuments(stream)) {
            const keys = Object.keys(d.toJS());
            expect(keys).toEqual([...keys].sort());
        }
        const reordered = inputs({ pools: [...inputs().pools].reverse() });
        expect(renderResourceStream(calicoResourceDocuments(reordered))).toBe(stream);
    });
});

describe("pruning", () => {
    const current = appliedNames(calicoResourceDocuments(inputs()));

    test("names by kind", () => {
        expect(current).toEqual({ ipPools: ["pool-a", "pool-b"], bgpPeers: ["tor"] });
    });

    test("prunes what was applied before and is no longer configured", () => {
        const previous = { ipPools: ["old-pool", "pool-a", "pool-b"], bgpPeers: ["old-tor", "tor"] };
        expect(pruneTargets(previous, current)).toEqual({ ipPools: ["old-pool"], bgpPeers: ["old-tor"] });
        expect(pruneTargets({ ipPools: [], bgpPeers: [] }, current)).toEqual({ ipPools: [], bgpPeers: [] });
    });

    test("the record keeps every name, so the run after a removal prunes the same and its Job is unchanged", () => {
        const first = { ipPools: ["old-pool", "pool-a"], bgpPeers: [] };
        const recorded1 = nextApplied(first, current);
        expect(recorded1).toEqual({ ipPools: ["old-pool", "pool-a", "pool-b"], bgpPeers: ["tor"] });
        expect(pruneTargets(recorded1, current)).toEqual(pruneTargets(first, current));
        expect(nextApplied(recorded1, current)).toEqual(recorded1);
    });

    test("a previous output that is missing or malformed prunes nothing", () => {
        expect(asAppliedNames(undefined)).toEqual({ ipPools: [], bgpPeers: [] });
        expect(asAppliedNames({ ipPools: "x", bgpPeers: [1, "p"] })).toEqual({ ipPools: [], bgpPeers: ["p"] });
    });
});

describe("the Job", () => {
    const none = { ipPools: [], bgpPeers: [] };
    const job = buildCalicoctlJob({ image: "quay.io/calico/ctl:v3.32.1", hash: "0123456789", prune: none });
    const pod = job.spec.template.spec;
    const container = pod.containers[0]!;

    test("is named from the content hash, in kube-system, and kept after it finishes", () => {
        expect(job.metadata.name).toBe("calicoctl-apply-0123456789");
        expect(job.metadata.namespace).toBe("kube-system");
        expect(job.spec).not.toHaveProperty("ttlSecondsAfterFinished");
        expect(job.spec.backoffLimit).toBeGreaterThan(0);
    });

    test("runs calicoctl on the host network before any node is ready, on etcdv3", () => {
        expect(pod.hostNetwork).toBe(true);
        expect(pod.tolerations).toEqual(
            expect.arrayContaining([
                { key: "CriticalAddonsOnly", operator: "Exists" },
                { operator: "Exists", effect: "NoSchedule" },
            ]),
        );
        expect(pod.restartPolicy).toBe("Never");
        expect(pod.initContainers).toEqual([]);
        expect(container.command).toEqual([CALICOCTL_BIN, "apply", "-f", `/calico-resources/${RESOURCES_KEY}`, "--allow-version-mismatch"]);
        expect(container.env).toContainEqual({ name: "DATASTORE_TYPE", value: "etcdv3" });
    });

    test("runs calicoctl where the v3.32.1 calico/ctl image has it (/usr/bin, not the old /calicoctl)", () => {
        expect(CALICOCTL_BIN).toBe("/usr/bin/calicoctl");
        expect(container.command![0]).toBe("/usr/bin/calicoctl");
        expect(container.image).toBe("quay.io/calico/ctl:v3.32.1");
    });

    test("every ETCD_*_FILE is a key of calico-etcd-secrets at the path its volume is mounted", () => {
        const secretKeys = Object.keys(buildEtcdSecret({ ca: "c", cert: "c", key: "k" }).stringData);
        const secretVolumes = (pod.volumes ?? []).filter((v) => v.secret?.secretName === ETCD_CERTS.object).map((v) => v.name);
        expect(secretVolumes).toHaveLength(1);
        const mount = container.volumeMounts!.find((m) => m.name === secretVolumes[0])!;
        const files = container.env!.filter((e) => /^ETCD_.*_FILE$/.test(e.name));
        expect(files.map((e) => e.name).sort()).toEqual(["ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_KEY_FILE"]);
        for (const f of files) {
            const [dir, key] = [f.value!.slice(0, f.value!.lastIndexOf("/")), f.value!.slice(f.value!.lastIndexOf("/") + 1)];
            expect([f.name, dir, secretKeys.includes(key!)]).toEqual([f.name, mount.mountPath, true]);
        }
        const endpoints = container.env!.find((e) => e.name === "ETCD_ENDPOINTS")!;
        expect(endpoints.valueFrom?.configMapKeyRef).toEqual({ name: CALICO_CONFIG, key: ETCD_ENDPOINTS_KEY });
        expect(Object.keys(buildCalicoConfig(ENDPOINTS).data)).toContain(ETCD_ENDPOINTS_KEY);
    });

    test("the file it applies is the ConfigMap's key at the path that ConfigMap is mounted", () => {
        const cm = buildResourcesConfigMap("x");
        const volume = (pod.volumes ?? []).find((v) => v.configMap?.name === RESOURCES_CONFIGMAP)!;
        const mount = container.volumeMounts!.find((m) => m.name === volume.name)!;
        expect(container.command![3]).toBe(`${mount.mountPath}/${Object.keys(cm.data)[0]}`);
        expect(cm.metadata).toMatchObject({ name: RESOURCES_CONFIGMAP, namespace: "kube-system" });
    });

    test("applies first, then deletes the pruned peers and pools", () => {
        const j = buildCalicoctlJob({ image: "ctl", hash: "h", prune: { ipPools: ["old-a", "old-b"], bgpPeers: ["old-tor"] } });
        const steps = [...j.spec.template.spec.initContainers, ...j.spec.template.spec.containers];
        expect(steps.map((s) => s.command)).toEqual([
            [CALICOCTL_BIN, "apply", "-f", `/calico-resources/${RESOURCES_KEY}`, "--allow-version-mismatch"],
            [CALICOCTL_BIN, "delete", "bgppeer", "old-tor", "--skip-not-exists", "--allow-version-mismatch"],
            [CALICOCTL_BIN, "delete", "ippool", "old-a", "old-b", "--skip-not-exists", "--allow-version-mismatch"],
        ]);
        expect(j.spec.template.spec.containers).toHaveLength(1);
    });

    test("the hash follows the stream and the prune list", () => {
        const stream = renderResourceStream(calicoResourceDocuments(inputs()));
        const changed = renderResourceStream(
            calicoResourceDocuments(inputs({ pools: [pool("pool-a", "10.244.0.0/18", { natOutgoing: false })] })),
        );
        expect(contentHash(stream, none)).toMatch(/^[0-9a-f]{10}$/);
        // The Job's name must not depend on the order the record's keys arrive in.
        expect(contentHash(stream, { bgpPeers: ["p"], ipPools: ["a"] })).toBe(contentHash(stream, { ipPools: ["a"], bgpPeers: ["p"] }));
        expect(contentHash(changed, none)).not.toBe(contentHash(stream, none));
        expect(contentHash(stream, { ipPools: ["x"], bgpPeers: [] })).not.toBe(contentHash(stream, none));
    });
});

function etcdRaw(): any {
    const raw: any = labRaw();
    raw.datastore = { type: "etcd", etcdEndpoints: [...ENDPOINTS] };
    raw.bgp = { peers: [{ name: "tor", peerIP: "172.16.0.254", asNumber: 64513 }] };
    raw.felix = { logSeverity: "Warning" };
    return raw;
}

const etcdSecrets = () => ({ ...labSecrets(), etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM });

/** calico-node's DaemonSet's dependsOn as given, before the harness flattens it to names. */
let daemonSetDependsOn: unknown[] = [];
const captureDaemonSet: pulumi.ResourceTransformation = (a) => {
    const d = a.opts.dependsOn;
    if (a.type === DAEMONSET) daemonSetDependsOn = Array.isArray(d) ? d : [d];
    return undefined;
};

const jobName = () => String(byType(JOB)[0]?.inputs.metadata.name);

describe("with the etcd datastore, under mocks", () => {
    let calico: Calico;
    beforeAll(async () => {
        calico = await buildProgram(resolvedConfig(etcdRaw(), etcdSecrets()), [captureDaemonSet]);
    });

    test("creates no crd.projectcalico.org object at all", () => {
        expect(
            recorded.filter((r) => r.type.includes("crd.projectcalico.org") || /projectcalico/.test(String(r.inputs.apiVersion))),
        ).toEqual([]);
        expect(recordedOpts.some((o) => o.type === "calico:index:IpPools" || o.type === "calico:index:Bgp")).toBe(false);
    });

    test("the calico-resources ConfigMap holds the configured pools and peer as v3 documents", () => {
        const cm = find(CONFIGMAP, RESOURCES_CONFIGMAP);
        expect(cm.inputs.metadata.namespace).toBe("kube-system");
        const docs = parseAllDocuments(String(cm.inputs.data[RESOURCES_KEY])).map((d) => d.toJS());
        expect(docs.map((d) => `${d.apiVersion} ${d.kind}/${d.metadata.name}`)).toEqual([
            ...labRaw()
                .pools!.map((p) => `projectcalico.org/v3 IPPool/${p.name}`)
                .sort(),
            "projectcalico.org/v3 BGPPeer/tor",
            "projectcalico.org/v3 BGPConfiguration/default",
            "projectcalico.org/v3 FelixConfiguration/default",
        ]);
    });

    test("one Job in kube-system with the ctl image, after the ConfigMap and calico-node's etcd Secret and ConfigMap", () => {
        const jobs = byType(JOB);
        expect(jobs).toHaveLength(1);
        expect(jobName()).toMatch(/^calicoctl-apply-[0-9a-f]{10}$/);
        expect(jobs[0]!.inputs.metadata.namespace).toBe("kube-system");
        expect(jobs[0]!.inputs.spec.template.spec.containers[0].image).toBe("quay.io/calico/ctl:v3.32.1");
        expect(jobs[0]!.inputs.spec.template.spec.containers[0].command.slice(0, 2)).toEqual(["/usr/bin/calicoctl", "apply"]);
        expect(recordedOpts.find((o) => o.type === JOB)?.dependsOn.sort()).toEqual(
            [CALICO_CONFIG, ETCD_CERTS.object, RESOURCES_CONFIGMAP].sort(),
        );
        expect(recordedOpts.find((o) => o.type === JOB)?.parent).toBe("calicoctl-apply");
    });

    test("the etcd client objects belong to their own component, created before the Job, calico-node and kube-controllers", () => {
        for (const name of [CALICO_CONFIG, ETCD_CERTS.object])
            expect(recordedOpts.find((o) => o.name === name)?.parent).toBe("etcd-client");
        const order = recorded.map((r) => r.name);
        for (const consumer of ["calicoctl-apply", "calico-node", "kube-controllers"]) {
            expect(order.indexOf("etcd-client")).toBeLessThan(order.indexOf(consumer));
        }
    });

    test("calico-node's DaemonSet waits for the component that runs the Job", async () => {
        const deps = await Promise.all(daemonSetDependsOn.map((d) => Promise.resolve(d)));
        expect(deps.map((d) => (d as { __name?: string }).__name)).toContain("calicoctl-apply");
        expect(deps).toContain(calico.calicoctlApply);
    });

    test("the component's state holds no inputs, so not the previous run's record (or every later run would show an update)", () => {
        expect(find("calico:index:CalicoctlApply", "calicoctl-apply").inputs).toEqual({});
    });

    test("no etcd key material in the Job or the ConfigMap: the Job mounts the Secret", () => {
        const text = JSON.stringify([byType(JOB)[0]!.inputs, find(CONFIGMAP, RESOURCES_CONFIGMAP).inputs]);
        expect(text).not.toContain("BEGIN");
    });

    test("reads the record back from this very stack, fully qualified, in the one read that precedes every other resource", () => {
        const refs = byType("pulumi:pulumi:StackReference");
        expect(refs.map((r) => r.inputs.name)).toEqual(["organization/calico-hard-way/test"]);
        // A second StackReference to this stack, opened once resources register, raced the file backend's
        // rewrite of this checkpoint under the real engine ("failed to load checkpoint: EOF").
        expect(recorded[0]!.type).toBe("pulumi:pulumi:StackReference");
    });

    test("exports the names it applied, for the next run", async () => {
        expect(await valueOf(calico.outputs[APPLIED_OUTPUT] as never)).toEqual({
            ipPools: labRaw()
                .pools!.map((p) => p.name)
                .sort(),
            bgpPeers: ["tor"],
        });
    });
});

describe("the Job's name", () => {
    async function nameFor(mutate: (raw: any) => void): Promise<string> {
        const raw = etcdRaw();
        mutate(raw);
        await buildProgram(resolvedConfig(raw, etcdSecrets()), [captureDaemonSet]);
        return jobName();
    }

    test("changes when a pool changes, not when an unrelated key does", async () => {
        const base = await nameFor(() => undefined);
        expect(await nameFor(() => undefined)).toBe(base);
        expect(await nameFor((r) => (r.pools[0].natOutgoing = false))).not.toBe(base);
        expect(await nameFor((r) => (r.calicoNode = { ...r.calicoNode, ipAutodetectionMethod: "interface=eth1" }))).toBe(base);
        expect(await nameFor((r) => (r.kubeControllers = { enabled: false }))).toBe(base);
    });
});

describe("a pool removed from config", () => {
    afterEach(() => {
        for (const k of Object.keys(previousStackOutputs)) delete previousStackOutputs[k];
    });

    test("is deleted by the next Job, after the apply, and stays in the record", async () => {
        const names = labRaw().pools!.map((p) => p.name);
        previousStackOutputs[APPLIED_OUTPUT] = { ipPools: [...names, "retired-pool"], bgpPeers: ["tor", "old-tor"] };
        const calico = await buildProgram(resolvedConfig(etcdRaw(), etcdSecrets()), [captureDaemonSet]);
        const spec = byType(JOB)[0]!.inputs.spec.template.spec;
        expect(spec.initContainers.map((c: any) => c.command[1])).toEqual(["apply", "delete"]);
        expect(spec.initContainers[1].command.slice(1, 4)).toEqual(["delete", "bgppeer", "old-tor"]);
        expect(spec.containers[0].command.slice(1, 4)).toEqual(["delete", "ippool", "retired-pool"]);
        expect(await valueOf(calico.outputs[APPLIED_OUTPUT] as never)).toEqual({
            ipPools: [...names, "retired-pool"].sort(),
            bgpPeers: ["old-tor", "tor"],
        });
    });
});

describe("Pulumi.etcd.yaml", () => {
    test("still validates and builds: its pool goes to etcd through the Job, no custom resources", async () => {
        const stack = stackFiles().find((s) => s.file === "Pulumi.etcd.yaml")!;
        const v = resolveConfig({ ...(stack.raw as object) }, stack.secrets, fakeEnv);
        if (!v.ok) throw new Error(v.problems.map(formatProblem).join("\n"));
        await buildProgram(v.config, [captureDaemonSet]);
        const docs = parseAllDocuments(String(find(CONFIGMAP, RESOURCES_CONFIGMAP).inputs.data[RESOURCES_KEY])).map((d) => d.toJS());
        expect(docs.find((d) => d.kind === "IPPool")).toMatchObject({ metadata: { name: "etcd-pods" }, spec: { cidr: "10.100.0.0/16" } });
        expect(byType(JOB)).toHaveLength(1);
        expect(recorded.filter((r) => r.type.includes("crd.projectcalico.org"))).toEqual([]);
        expect(plain(byType(JOB)[0]!.inputs.metadata.name)).toMatch(/^calicoctl-apply-/);
    });
});
