import spec from "../../facts/felixConfigurationSpec.json";
import { FELIX_OWNED_FIELDS } from "../../facts/felixFields";
import { type SchemaNode, closest, validateSchema } from "../jsonSchema";
import { Problem, problem } from "../problems";
import type { ParsedConfig } from "../schema";

const FIELDS = spec.fields as Record<string, SchemaNode>;
const KNOWN = Object.keys(FIELDS);

function valueAt(v: unknown, path: string): unknown {
    let cursor = v;
    for (const m of path.matchAll(/\.([^.[]+)|\[(\d+)\]/g)) {
        const k = m[1] ?? Number(m[2]);
        cursor = cursor !== null && typeof cursor === "object" ? (cursor as Record<string | number, unknown>)[k] : undefined;
    }
    return cursor;
}

/**
 * `felix.settings`: each key a FelixConfiguration spec field of the pinned Calico, its value valid for
 * the CRD's schema, and none the program sets itself. The API server would prune a misspelt field
 * without a word; here it is refused, with the nearest field name.
 */
export function felixSettingsRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    for (const [field, value] of Object.entries(cfg.felix.settings)) {
        const key = `felix.settings.${field}`;
        const schema = FIELDS[field];
        if (!schema) {
            const near = closest(field, KNOWN);
            out.push(
                problem(
                    key,
                    value,
                    `is not a FelixConfiguration field in Calico ${spec.calicoVersion}${near ? ` (did you mean ${near}?)` : ""}; fix the spelling or remove it (\`kubectl explain felixconfigurations.spec\` lists the fields).`,
                ),
            );
            continue;
        }
        const owner = FELIX_OWNED_FIELDS[field];
        if (owner === "env") {
            out.push(
                problem(
                    key,
                    value,
                    "is set by calico-node's env, which Felix ranks above the FelixConfiguration, so this value would be ignored; remove it.",
                ),
            );
            continue;
        }
        if (owner !== undefined) {
            out.push(problem(key, value, `is set by ${owner}; use that key instead and remove this one.`));
            continue;
        }
        if (field === "nodeSelector") {
            // The CRD's own rule (x-kubernetes-validations): the default FelixConfiguration applies to every node.
            out.push(problem(key, value, "must not be set on the default FelixConfiguration, which applies to every node; remove it."));
            continue;
        }
        for (const e of validateSchema(schema, value)) {
            out.push(
                problem(
                    `${key}${e.path}`,
                    valueAt(value, e.path),
                    `${e.message}, as the FelixConfiguration CRD of Calico ${spec.calicoVersion} requires; fix the value or remove it.`,
                ),
            );
        }
    }
    return out;
}
