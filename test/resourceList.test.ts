import { buildProgram, crdSchemas, plain, recorded, recordedOpts, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { resolveConfig } from "../components/config/resolve";
import { CRDS_FILE, REFERENCE, TEST_KEY_PEM, fakeEnv, stackFiles } from "./fixtures";

// What `pulumi preview` on an existing stack compares: each resource's type, name, parent and aliases,
// and its inputs. A refactor that keeps this file unchanged shows no replace, delete or diff.
// Regenerate with UPDATE_RESOURCE_LIST=1 only when a change to the installed objects is meant.
const FILE = path.join(__dirname, "resourceList.json");

/** A key of fixed length in place of the per-run test key: its size shows in the hosts' install frames. */
const FIXED_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBfixedtestkey\n-----END RSA PRIVATE KEY-----\n";

/** JSON with sorted keys, so equal inputs hash equal across runs. */
function canonical(v: unknown): string {
    const walk = (x: unknown): unknown => {
        x = plain(x);
        // The checkout's place (the CRD manifest's path) is no input of a real stack's.
        if (typeof x === "string") return x.split(REFERENCE).join("<reference>");
        if (Array.isArray(x)) return x.map(walk);
        if (x && typeof x === "object")
            return Object.fromEntries(
                Object.keys(x)
                    .sort()
                    .map((k) => [k, walk((x as Record<string, unknown>)[k])]),
            );
        return x;
    };
    return JSON.stringify(walk(v));
}

async function listOf(raw: Record<string, unknown>, testSecrets: object): Promise<string[]> {
    const secrets = Object.fromEntries(Object.entries(testSecrets).map(([k, s]) => [k, s === TEST_KEY_PEM ? FIXED_KEY : s]));
    const v = resolveConfig({ ...raw, datastore: { ...(raw.datastore as object), crdsFile: CRDS_FILE } }, secrets, fakeEnv);
    if (!v.ok) throw new Error(v.problems.map((p) => p.key).join(", "));
    await buildProgram(v.config);
    const inputs = new Map(
        recorded.map((r) => [`${r.type}::${r.name}`, createHash("sha256").update(canonical(r.inputs)).digest("hex").slice(0, 16)]),
    );
    const lines: string[] = [];
    for (const o of recordedOpts) {
        const aliases = o.aliases?.length ? ` aliases=${JSON.stringify(await valueOf(pulumi.output(o.aliases)))}` : "";
        lines.push(`${o.type} ${o.name} parent=${o.parentKey ?? "-"}${aliases} inputs=${inputs.get(o.key) ?? "-"}`);
    }
    return lines.sort();
}

test("every stack file registers the same resources, parents and inputs as recorded", async () => {
    // The CRDs as the stack applies them, not the builds' thinned ones.
    crdSchemas.full = true;
    const now: Record<string, string[]> = {};
    const update = process.env.UPDATE_RESOURCE_LIST !== undefined;
    const before = update ? {} : (JSON.parse(fs.readFileSync(FILE, "utf8")) as Record<string, string[]>);
    // The stack files recorded; a sandbox run may add one of its own meanwhile.
    for (const s of stackFiles()) if (update || s.file in before) now[s.file] = await listOf(s.raw, s.secrets);
    if (update) fs.writeFileSync(FILE, `${JSON.stringify(now, null, 2)}\n`);
    else expect(now).toEqual(before);
});
