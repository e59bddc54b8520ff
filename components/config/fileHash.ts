import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { stableJson } from "../builders/json";
import { programCacheDir } from "../facts/cacheDir";

/**
 * The sha256 of the local files the config names (CNI binaries, the CRDs file), remembered between runs.
 * Every `preview` runs the program, and hashing the CNI binaries (tens of MB each) would be a good part
 * of a small stack's preview. A file is hashed again when its device, inode, size, mtime or
 * ctime changed (ctime cannot be set back from user space), as git's index does. A wrong entry could not
 * install the wrong binary anyway: each host checks what it unpacks against this sha256 and fails.
 */
export function cachedFileSha256(cacheFile: string = hashCachePath()): (file: string) => string | undefined {
    let cache: Record<string, { stat: string; sha256: string }> | undefined;
    return (file) => {
        let stat: string;
        let key: string;
        try {
            key = fs.realpathSync(file);
            const s = fs.statSync(key, { bigint: true });
            if (!s.isFile()) return undefined;
            stat = [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":");
        } catch {
            return undefined;
        }
        cache ??= readCache(cacheFile);
        const hit = cache[key];
        if (hit?.stat === stat) return hit.sha256;
        let sha256: string;
        try {
            sha256 = crypto.createHash("sha256").update(fs.readFileSync(key)).digest("hex");
        } catch {
            return undefined;
        }
        cache[key] = { stat, sha256 };
        writeCache(cacheFile, cache);
        return sha256;
    };
}

/** `sha256.json` in the program's cache, beside the staged uploads. */
export function hashCachePath(): string {
    return path.join(programCacheDir(), "sha256.json");
}

function readCache(file: string): Record<string, { stat: string; sha256: string }> {
    try {
        const c: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
        return c !== null && typeof c === "object" && !Array.isArray(c) ? (c as Record<string, { stat: string; sha256: string }>) : {};
    } catch {
        return {}; // none yet, or unreadable: hash again
    }
}

/** Best effort and atomic (a concurrent run reads the old or the new file, never half of one). */
function writeCache(file: string, cache: Record<string, { stat: string; sha256: string }>): void {
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, stableJson(cache, 0));
        fs.renameSync(tmp, file);
    } catch {
        // A read-only cache dir only costs the hashing next time.
    }
}
