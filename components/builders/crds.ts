/**
 * Calico's CRDs as the program applies them. Their OpenAPI schemas are most of the stack's state: the
 * Kubernetes provider keeps each CRD three times (its inputs, the live object and the inputs again inside
 * the outputs) plus the live object's managedFields, and the engine rewrites the whole state file on every
 * step. The `description` strings are about two fifths of each schema and serve only `kubectl explain`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
    return v !== null && v !== undefined && typeof v === "object" && !Array.isArray(v);
}

/**
 * A JSON schema without its `description` keywords, at every depth. Walks the schema's structure, so a
 * property that is itself named `description` (a key of `properties`) stays.
 */
export function schemaWithoutDescriptions(schema: JsonObject): JsonObject {
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(schema)) {
        if (key === "description" && typeof value === "string") continue;
        if ((key === "properties" || key === "patternProperties" || key === "definitions") && isObject(value)) {
            out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isObject(v) ? schemaWithoutDescriptions(v) : v]));
        } else if ((key === "items" || key === "additionalProperties" || key === "not") && isObject(value)) {
            out[key] = schemaWithoutDescriptions(value);
        } else if ((key === "items" || key === "allOf" || key === "anyOf" || key === "oneOf") && Array.isArray(value)) {
            out[key] = value.map((v) => (isObject(v) ? schemaWithoutDescriptions(v) : v));
        } else {
            out[key] = value;
        }
    }
    return out;
}

/**
 * A `yaml.ConfigFile` transformation: drops the descriptions from every version's schema of a
 * CustomResourceDefinition, in place (the SDK's transformations mutate the object they get). Anything
 * else is left as it is.
 */
export function stripCrdDescriptions(obj: JsonObject): void {
    if (obj.kind !== "CustomResourceDefinition" || !isObject(obj.spec) || !Array.isArray(obj.spec.versions)) return;
    for (const version of obj.spec.versions) {
        if (!isObject(version) || !isObject(version.schema) || !isObject(version.schema.openAPIV3Schema)) continue;
        version.schema.openAPIV3Schema = schemaWithoutDescriptions(version.schema.openAPIV3Schema);
    }
}
