import { Problem, problem } from "../problems";
import { REQUIRED_CNI_BINARIES, type ParsedConfig } from "../schema";
import type { ConfigEnv } from "../types";

const SHA256 = /^[0-9a-f]{64}$/;

/** The binaries a node needs, given the CNI options. */
export function requiredCniBinaries(cfg: ParsedConfig): string[] {
    const names: string[] = [...REQUIRED_CNI_BINARIES];
    if (cfg.cni.bandwidth) names.push("bandwidth");
    return names.sort();
}

export function cniRules(cfg: ParsedConfig, env: ConfigEnv): Problem[] {
    const out: Problem[] = [];
    const cni = cfg.cni;
    if (cni.mtu !== undefined && (cni.mtu < 576 || cni.mtu > 9000)) {
        out.push(
            problem(
                "cni.mtu",
                cni.mtu,
                "is out of range; use 576-9000, or leave it unset to derive it from cluster.networkMtu and the encapsulation.",
            ),
        );
    }
    for (const key of ["binDir", "confDir"] as const) {
        if (!cni[key].startsWith("/")) out.push(problem(`cni.${key}`, cni[key], "must be an absolute path on the nodes."));
    }
    for (const [name, d] of Object.entries(cni.downloads)) {
        if (!SHA256.test(d.sha256)) {
            out.push(
                problem(
                    `cni.downloads.${name}.sha256`,
                    d.sha256,
                    "is not a sha256; give the 64 lower-case hex digits of `sha256sum` of the file.",
                ),
            );
        }
        if (!/^https?:\/\//.test(d.url)) {
            out.push(problem(`cni.downloads.${name}.url`, d.url, "is not an http(s) URL the nodes can fetch."));
        }
    }
    // With cni.delivery daemonset they come from the calico/cni image (rules/delivery.ts refuses other sources).
    for (const name of cni.delivery === "ssh" ? requiredCniBinaries(cfg) : []) {
        if (cni.downloads[name]) continue;
        if (cni.localBinDir === undefined) {
            out.push(
                problem(
                    `cni.downloads.${name}`,
                    undefined,
                    `no source for the ${name} binary; set cni.localBinDir to a folder holding it, or add cni.downloads.${name} with url and sha256.`,
                ),
            );
            continue;
        }
        const path = `${cni.localBinDir.replace(/\/+$/, "")}/${name}`;
        if (env.fileSha256(path) === undefined) {
            out.push(
                problem(
                    "cni.localBinDir",
                    cni.localBinDir,
                    `has no file ${name} (${path}); put the binary there or add cni.downloads.${name}.`,
                ),
            );
        }
    }
    return out;
}
