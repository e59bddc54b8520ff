import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import { type UploadPlan, stagedHeadName, stagedName } from "../builders/upload";
import { programCacheDir } from "../facts/cacheDir";

/** Lays out an upload on the machine that runs Pulumi and returns its folder (the program's only file write). */
export type StageUpload = (plan: UploadPlan) => string;

/** A staged upload: its folder and the plan's digest. */
export interface StagedUpload {
    dir: string;
    digest: string;
}

/** Staged uploads, one folder per digest: `upload` in the program's cache. */
export function stageRoot(): string {
    return path.join(programCacheDir(), "upload");
}

/**
 * The plan's scripts and heads, and its files gzipped into `<root>/<digest prefix>/<sha256>.gz`, once: a later run (every preview
 * runs the program too) finds the folder and reuses it. Built in a temp folder and renamed into place, so
 * an interrupted or concurrent run never leaves a partial folder behind under the final name.
 */
export function stageUpload(plan: UploadPlan, root: string = stageRoot()): string {
    const dir = path.join(root, plan.digest.slice(0, 16));
    if (fs.existsSync(dir)) return dir;
    fs.mkdirSync(root, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(root, `.${path.basename(dir)}-`));
    try {
        for (const f of plan.files)
            fs.writeFileSync(path.join(tmp, stagedName(f.sha256)), zlib.gzipSync(fs.readFileSync(f.from), { level: 6 }));
        for (const s of plan.scripts) fs.writeFileSync(path.join(tmp, s.name), s.content, { mode: 0o644 });
        for (const h of plan.heads) fs.writeFileSync(path.join(tmp, stagedHeadName(h.sha256)), h.content, { mode: 0o644 });
        fs.renameSync(tmp, dir);
    } catch (e) {
        fs.rmSync(tmp, { recursive: true, force: true });
        // Another run staged the same digest first: its folder is as good as ours.
        if (!fs.existsSync(dir)) throw e;
    }
    return dir;
}
