/**
 * The FelixConfiguration spec table the program validates `felix.settings` against
 * (components/facts/felixConfigurationSpec.json), derived from the pinned crds.yaml: each spec field's
 * OpenAPI schema without its descriptions. test/felixSettings.test.ts checks that the committed table is
 * exactly this; after a Calico bump, regenerate it:
 *
 *     npx ts-node --transpile-only test/felixSpecTable.ts && npx prettier --write components/facts/felixConfigurationSpec.json
 */
import * as fs from "fs";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { sortKeys } from "../components/builders/json";
import { CALICO_VERSION } from "../components/versions";
import { CRDS_FILE, ROOT } from "./fixtures";

export const TABLE_FILE = path.join(ROOT, "components/facts/felixConfigurationSpec.json");

function withoutDescriptions(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(withoutDescriptions);
    if (v !== null && typeof v === "object") {
        return Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
                .filter(([k]) => k !== "description")
                .map(([k, x]) => [k, withoutDescriptions(x)]),
        );
    }
    return v;
}

/** The table as the pinned CRDs define it. */
export function felixSpecTable(crdsYaml: string = fs.readFileSync(CRDS_FILE, "utf8")): Record<string, unknown> {
    const crd = parseAllDocuments(crdsYaml)
        .map((d) => d.toJS())
        .find((d) => d?.spec?.group === "crd.projectcalico.org" && d?.spec?.names?.kind === "FelixConfiguration");
    if (!crd) throw new Error("no FelixConfiguration CRD");
    const spec = crd.spec.versions.find((v: { name: string }) => v.name === "v1").schema.openAPIV3Schema.properties.spec;
    return sortKeys({ calicoVersion: CALICO_VERSION, fields: withoutDescriptions(spec.properties) }) as Record<string, unknown>;
}

if (require.main === module) fs.writeFileSync(TABLE_FILE, JSON.stringify(felixSpecTable(), null, 2) + "\n");
