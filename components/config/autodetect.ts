import { isIp, parseCidr } from "../facts/cidr";

/**
 * IP_AUTODETECTION_METHOD values that calico/node understands. A wrong autodetected IP is the most common
 * cause of "BGP not established", so the syntax is checked before anything is installed.
 */
export const AutodetectKinds = ["first-found", "kubernetes-internal-ip", "can-reach", "interface", "skip-interface", "cidr"] as const;
export type AutodetectKind = (typeof AutodetectKinds)[number];

export type AutodetectMethod =
    | { kind: "first-found" | "kubernetes-internal-ip" }
    | { kind: "can-reach"; destination: string }
    | { kind: "interface" | "skip-interface"; patterns: string[] }
    | { kind: "cidr"; cidrs: string[] };

export type AutodetectParse = { ok: true; method: AutodetectMethod } | { ok: false; reason: string };

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

const needsArgument: Record<AutodetectKind, boolean> = {
    "first-found": false,
    "kubernetes-internal-ip": false,
    "can-reach": true,
    interface: true,
    "skip-interface": true,
    cidr: true,
};

const USAGE =
    "use first-found, kubernetes-internal-ip, can-reach=<ip or host>, interface=<regex>[,<regex>], " +
    "skip-interface=<regex>[,<regex>] or cidr=<cidr>[,<cidr>]";

function splitList(arg: string): string[] {
    return arg.split(",").map((s) => s.trim());
}

export function parseAutodetect(text: string): AutodetectParse {
    const eq = text.indexOf("=");
    const kindText = (eq < 0 ? text : text.slice(0, eq)).trim();
    const arg = eq < 0 ? undefined : text.slice(eq + 1).trim();
    if (!(AutodetectKinds as readonly string[]).includes(kindText)) {
        return { ok: false, reason: `unknown method "${kindText}"; ${USAGE}` };
    }
    const kind = kindText as AutodetectKind;
    if (!needsArgument[kind]) {
        return arg === undefined
            ? { ok: true, method: { kind } as AutodetectMethod }
            : { ok: false, reason: `${kind} takes no argument; write just "${kind}"` };
    }
    if (!arg) return { ok: false, reason: `${kind} needs an argument after "="; ${USAGE}` };
    switch (kind) {
        case "can-reach":
            if (isIp(arg) || HOSTNAME.test(arg)) return { ok: true, method: { kind, destination: arg } };
            return { ok: false, reason: `can-reach needs an IP address or a host name, not "${arg}"` };
        case "interface":
        case "skip-interface": {
            const patterns = splitList(arg);
            for (const p of patterns) {
                if (p === "") return { ok: false, reason: `${kind} has an empty regex in "${arg}"; remove the extra comma` };
                try {
                    new RegExp(p);
                } catch {
                    return { ok: false, reason: `${kind} has an invalid regex "${p}"; e.g. interface=eth.*` };
                }
            }
            return { ok: true, method: { kind, patterns } };
        }
        case "cidr": {
            const cidrs = splitList(arg);
            for (const c of cidrs) {
                const parsed = parseCidr(c);
                if (!parsed.ok) return { ok: false, reason: `cidr entry "${c}" ${parsed.reason}` };
            }
            return { ok: true, method: { kind, cidrs } };
        }
        default:
            return { ok: false, reason: USAGE };
    }
}
