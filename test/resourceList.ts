import { plain, recorded, recordedOpts, valueOf } from "./harness";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { REFERENCE } from "./fixtures";

// What `pulumi preview` on an existing stack compares: each resource's type, name, parent (or the old
// parent its alias names) and aliases, and its inputs. A refactor that keeps this file unchanged shows no
// replace, delete or diff.
const FILE = path.join(__dirname, "resourceList.json");

/** A key of fixed length in place of the per-run test key: its size shows in the hosts' install frames. */
export const FIXED_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIBfixedtestkey\n-----END RSA PRIVATE KEY-----\n";

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

/** `type::name` of the resource a URN names (`urn:pulumi:<stack>::<project>::<parent types$type>::<name>`). */
function urnKey(urn: string): string {
    const [, , types, name] = urn.split("::");
    return `${types!.split("$").at(-1)}::${name}`;
}

/** A resource's line, and for one moved under an alias the line it had under its old parent. */
interface Listed {
    line: string;
    asBefore?: string;
}

/** The recorded build's resources, one line each (sorted), a moved one as the engine finds it when `before` has that. */
export async function resourceLines(before: readonly string[] | undefined): Promise<string[]> {
    const known = new Set(before ?? []);
    const inputs = new Map(
        recorded.map((r) => [`${r.type}::${r.name}`, createHash("sha256").update(canonical(r.inputs)).digest("hex").slice(0, 16)]),
    );
    const lines: Listed[] = [];
    for (const o of recordedOpts) {
        const all = (o.aliases?.length ? await valueOf(pulumi.output(o.aliases)) : []) as { parent?: string }[];
        const line = (parent: string, aliases: unknown[]) =>
            `${o.type} ${o.name} parent=${parent}${aliases.length ? ` aliases=${JSON.stringify(aliases)}` : ""} inputs=${inputs.get(o.key) ?? "-"}`;
        // Moved to another parent with an alias to the old one: also as the engine finds it, under the old parent.
        const moved = all.find((a) => typeof a.parent === "string");
        lines.push({
            line: line(o.parentKey ?? "-", all),
            asBefore: moved
                ? line(
                      urnKey(moved.parent!),
                      all.filter((a) => a !== moved),
                  )
                : undefined,
        });
    }
    return lines.map((l) => (l.asBefore !== undefined && before !== undefined && !known.has(l.line) ? l.asBefore : l.line)).sort();
}

/** The list as recorded, by stack file; UPDATE_RESOURCE_LIST=1 rewrites it (only when a change to the installed objects is meant). */
export const UPDATE = process.env.UPDATE_RESOURCE_LIST !== undefined;
export function recordedLists(): Record<string, string[]> {
    return UPDATE ? {} : (JSON.parse(fs.readFileSync(FILE, "utf8")) as Record<string, string[]>);
}
export function writeLists(lists: Record<string, string[]>): void {
    fs.writeFileSync(FILE, `${JSON.stringify(Object.fromEntries(Object.entries(lists).sort()), null, 2)}\n`);
}
