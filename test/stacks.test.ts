import { buildProgram, installedConflist, recorded } from "./harness";
import { parseAllDocuments } from "yaml";
import { RESOURCES_CONFIGMAP, RESOURCES_KEY } from "../components/builders/calicoctlApply";
import { formatProblem } from "../components/config/problems";
import { resolveConfig } from "../components/config/resolve";
import { CRDS_FILE, TEST_KEY_PEM, fakeEnv, stackFiles } from "./fixtures";
import { FIXED_KEY, UPDATE, recordedLists, resourceLines, writeLists } from "./resourceList";

const before = recordedLists();
const now: Record<string, string[]> = {};
afterAll(() => void (UPDATE && writeLists(now)));

// Every stack file in the repo must validate and build. CRDs come from the reference copy so the test
// needs no network; local binaries are faked by fakeEnv.
describe.each(stackFiles().map((s) => [s.file, s] as const))("%s", (_file, stack) => {
    test("validates and builds under mocks; registers the same resources, parents and inputs as recorded", async () => {
        const raw: any = { ...stack.raw, datastore: { ...(stack.raw.datastore as object), crdsFile: CRDS_FILE } };
        // A key of fixed length: its size shows in the hosts' install frames, so in the recorded inputs.
        const secrets = Object.fromEntries(Object.entries(stack.secrets).map(([k, s]) => [k, s === TEST_KEY_PEM ? FIXED_KEY : s]));
        const v = resolveConfig(raw, secrets, fakeEnv);
        expect(v.ok ? [] : v.problems.map(formatProblem)).toEqual([]);
        if (!v.ok) return;
        await buildProgram(v.config);
        for (const node of v.config.nodes) expect(installedConflist(node.name).plugins[0].nodename).toBe(node.name);
        // Custom resources on the Kubernetes datastore; documents the calicoctl Job applies with etcd.
        const crs = recorded.filter((r) => r.inputs?.kind === "IPPool").map((r) => r.inputs.metadata.name);
        const etcdDocs = recorded
            .filter((r) => r.name === RESOURCES_CONFIGMAP)
            .flatMap((r) => parseAllDocuments(String(r.inputs.data[RESOURCES_KEY])).map((d) => d.toJS()))
            .filter((d) => d.kind === "IPPool")
            .map((d) => d.metadata.name);
        expect([...crs, ...etcdDocs].sort()).toEqual(v.config.pools.map((p) => p.name).sort());
        // What `pulumi preview` on an existing stack compares: a refactor that keeps these lines shows no
        // replace, delete or diff. A stack file a sandbox run added meanwhile has no record.
        now[stack.file] = await resourceLines(before[stack.file]);
        if (!UPDATE && stack.file in before) expect(now[stack.file]).toEqual(before[stack.file]);
    });
});

test("the repo has the dev stack and at least one other", () => {
    const files = stackFiles().map((s) => s.file);
    expect(files).toContain("Pulumi.dev.yaml");
    expect(files.length).toBeGreaterThan(1);
});
