/** Helpers the workload tests share: reference RBAC as tuples, and env-path-to-volume resolution. */
import * as fs from "fs";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import type { ConfigMapOf, PodSpec, PolicyRule, SecretOf } from "../components/builders/workloadTypes";
import { REFERENCE } from "./fixtures";

/** One permission per line: `group|resource|verb|resourceName`, so rule grouping does not matter. */
export function ruleTuples(rules: PolicyRule[]): string[] {
    const out = new Set<string>();
    for (const r of rules)
        for (const g of r.apiGroups)
            for (const res of r.resources)
                for (const v of r.verbs) for (const n of r.resourceNames ?? [""]) out.add(`${g}|${res}|${v}|${n}`);
    return [...out].sort();
}

const parsed = new Map<string, any[]>();

/** The documents of a reference manifest, parsed once per test file (they are large). */
function referenceDocs(file: string): any[] {
    let docs = parsed.get(file);
    if (!docs) {
        docs = parseAllDocuments(fs.readFileSync(path.join(REFERENCE, file), "utf8")).map((d) => d.toJS());
        parsed.set(file, docs);
    }
    return docs;
}

/** Rules of a ClusterRole in one of the reference manifests. */
export function referenceRules(file: string, roleName: string): PolicyRule[] {
    const docs = referenceDocs(file);
    const role = docs.find((d) => d?.kind === "ClusterRole" && d.metadata?.name === roleName);
    if (!role) throw new Error(`${file} has no ClusterRole ${roleName}`);
    return role.rules as PolicyRule[];
}

/** A workload object of a reference manifest, by kind and name. */
export function referenceObject(file: string, kind: string, name: string): any {
    const docs = referenceDocs(file);
    const obj = docs.find((d) => d?.kind === kind && d.metadata?.name === name);
    if (!obj) throw new Error(`${file} has no ${kind} ${name}`);
    return obj;
}

type Published = ConfigMapOf<string> | SecretOf<string>;

/**
 * For every env value that is an absolute file path, the problem if it does not name a key of a
 * ConfigMap or Secret mounted at that directory in the same container; empty when all resolve.
 */
export function unresolvedEnvPaths(pod: PodSpec, published: Published[]): string[] {
    const problems: string[] = [];
    for (const c of pod.containers) {
        for (const e of c.env ?? []) {
            if (!e.value?.startsWith("/")) continue;
            const dir = path.posix.dirname(e.value);
            const file = path.posix.basename(e.value);
            const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === dir);
            const volume = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
            const objectName = volume?.configMap?.name ?? volume?.secret?.secretName;
            const kind = volume?.configMap ? "ConfigMap" : "Secret";
            const obj = published.find((o) => o.kind === kind && o.metadata.name === objectName);
            const keys = obj ? Object.keys(obj.kind === "ConfigMap" ? obj.data : obj.stringData) : [];
            if (!keys.includes(file))
                problems.push(`${c.name} ${e.name}=${e.value}: no ${kind} ${objectName ?? "(unmounted)"} key ${file}`);
        }
    }
    return problems;
}

export function envOf(pod: PodSpec, container: string): Record<string, string | undefined> {
    const c = pod.containers.find((x) => x.name === container);
    if (!c) throw new Error(`no container ${container}`);
    return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? JSON.stringify(e.valueFrom)]));
}
