import * as fs from "fs";
import Ajv, { ValidateFunction } from "ajv";
import { isIp } from "../components/facts/cidr";
import { parseCidr } from "../components/facts/cidr";
import { parseAllDocuments } from "yaml";
import { CRDS_FILE } from "./fixtures";

/**
 * Validators for Calico custom resources from the pinned CRDs. Kubernetes patterns use Go's `(?i)`
 * inline flag, which JavaScript lacks, so such a pattern is compiled case-insensitively without it.
 */
function goRegExp(pattern: string, flags: string): RegExp {
    return pattern.includes("(?i)") ? new RegExp(pattern.replace(/\(\?i\)/g, ""), `${flags}i`) : new RegExp(pattern, flags);
}

const crds = parseAllDocuments(fs.readFileSync(CRDS_FILE, "utf8")).map((d) => d.toJS());
const ajv = new Ajv({ strict: false, allErrors: true, code: { regExp: goRegExp as never } });
ajv.addFormat("cidr", { type: "string", validate: (s: string) => parseCidr(s).ok || isIp(s) });
ajv.addFormat("ip", { type: "string", validate: (s: string) => isIp(s) });
for (const f of ["int32", "int64", "duration", "byte", "date-time"]) ajv.addFormat(f, true);

/** Names of every CRD in the pinned manifest, in its order: what the Datastore component must apply. */
export const REFERENCE_CRD_NAMES: string[] = crds.filter((d) => d?.kind === "CustomResourceDefinition").map((d) => d.metadata.name);

const cache = new Map<string, ValidateFunction>();

function calicoSchema(kind: string): Record<string, any> {
    const crd = crds.find((d) => d?.spec?.group === "crd.projectcalico.org" && d?.spec?.names?.kind === kind);
    if (!crd) throw new Error(`no CRD for ${kind} in ${CRDS_FILE}`);
    return crd.spec.versions.find((v: { name: string }) => v.name === "v1").schema.openAPIV3Schema;
}

/** The validator of `kind` in group crd.projectcalico.org, version v1 (or any schema, e.g. a CRD's). */
export function calicoCrdValidator(kind: string): ValidateFunction {
    const hit = cache.get(kind);
    if (hit) return hit;
    const validate = ajv.compile(calicoSchema(kind));
    cache.set(kind, validate);
    return validate;
}

/**
 * Spec keys the CRD does not define. The schemas allow unknown fields (the API server prunes them
 * silently), so a misspelt field would pass validation and then do nothing.
 */
export function unknownSpecKeys(obj: Record<string, unknown>): string[] {
    const known = Object.keys(calicoSchema(String(obj.kind)).properties.spec.properties);
    return Object.keys((obj.spec ?? {}) as object).filter((k) => !known.includes(k));
}

/** Errors of one object against its kind's schema; [] when it is valid. */
export function schemaErrors(obj: Record<string, unknown>): unknown[] {
    const validate = calicoCrdValidator(String(obj.kind));
    return validate(obj) ? [] : (validate.errors ?? []);
}
