import { PROJECT_SLUG } from "./names";
import * as os from "os";
import * as path from "path";

/**
 * This program's cache on the machine that runs Pulumi, outside any project: `$XDG_CACHE_HOME/calico-hard-way`
 * (`~/.cache/calico-hard-way` without it). It holds the staged uploads (resources/uploadStage.ts) and the
 * local files' sha256 (config/fileHash.ts); deleting it only costs the next run the work again.
 */
export function programCacheDir(): string {
    return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), PROJECT_SLUG);
}
