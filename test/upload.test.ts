import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { bundleDigest, sha256, stagedHeadName, stagedName, uploadPlan } from "../components/builders/upload";
import { stageUpload } from "../components/resources/uploadStage";
import type { CniBinary } from "../components/config/types";

const local = (name: string, sha256: string, p = `/bins/${name}`): CniBinary => ({ name, source: "local", path: p, sha256 });
const A = "a".repeat(64);
const B = "b".repeat(64);
const SCRIPTS = [
    { name: "uninstall.sh", content: "set -eu\n" },
    { name: "install.sh", content: "set -eu\nnode=$1\n" },
];

describe("uploadPlan", () => {
    test("one file per distinct content, sorted by sha256; downloads are not uploaded; the scripts by name", () => {
        const binaries: CniBinary[] = [
            local("portmap", B),
            local("calico", A),
            local("calico-ipam", A),
            { name: "loopback", source: "download", url: "https://example.invalid/loopback", sha256: "c".repeat(64) },
        ];
        expect(uploadPlan(binaries, SCRIPTS)).toEqual({
            digest: bundleDigest(binaries, SCRIPTS),
            files: [
                { sha256: A, from: "/bins/calico" },
                { sha256: B, from: "/bins/portmap" },
            ],
            scripts: [SCRIPTS[1], SCRIPTS[0]],
            heads: [],
        });
    });

    test("each distinct head once, by its sha256; the digest covers the heads and nothing else changes", () => {
        const binaries = [local("calico", A)];
        const plan = uploadPlan(binaries, SCRIPTS, ["kc head", "kc head"]);
        expect(plan.heads).toEqual([{ sha256: sha256("kc head"), content: "kc head" }]);
        expect(plan.digest).toBe(bundleDigest(binaries, SCRIPTS, ["kc head"]));
        expect(plan.digest).not.toBe(bundleDigest(binaries, SCRIPTS));
        expect(uploadPlan(binaries, SCRIPTS, ["other head"]).digest).not.toBe(plan.digest);
        expect({ ...plan, digest: "", heads: [] }).toEqual({ ...uploadPlan(binaries, SCRIPTS), digest: "" });
    });

    test("nothing local: the upload holds the scripts only", () => {
        const binaries: CniBinary[] = [{ name: "calico", source: "download", url: "https://example.invalid/calico", sha256: A }];
        expect(uploadPlan(binaries, SCRIPTS)).toEqual({
            digest: bundleDigest(binaries, SCRIPTS),
            files: [],
            scripts: [SCRIPTS[1], SCRIPTS[0]],
            heads: [],
        });
    });

    test("the digest changes with any name, sha256 or their order (the config's, sorted by name), or a script, not with the folder", () => {
        const base = [local("calico", A), local("portmap", B)];
        const d = (binaries: CniBinary[], scripts = SCRIPTS) => bundleDigest(binaries, scripts);
        expect(d([...base].reverse())).not.toBe(d(base));
        expect(d([local("calico", A, "/other/calico"), local("portmap", B, "/other/portmap")])).toBe(d(base));
        expect(d([local("calico", B), local("portmap", B)])).not.toBe(d(base));
        expect(d([local("calico2", A), local("portmap", B)])).not.toBe(d(base));
        expect(d(base, [SCRIPTS[0]!, { name: "install.sh", content: "set -eu\nnode=$2\n" }])).not.toBe(d(base));
        expect(d(base, [SCRIPTS[0]!, { name: "setup.sh", content: SCRIPTS[1]!.content }])).not.toBe(d(base));
    });
});

describe("stageUpload", () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "stage-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("gzips each file under its sha256 in a folder named by the digest, and reuses that folder", () => {
        fs.writeFileSync(path.join(dir, "calico"), "calico binary");
        const plan = {
            digest: "d".repeat(64),
            files: [{ sha256: A, from: path.join(dir, "calico") }],
            scripts: SCRIPTS,
            heads: [{ sha256: B, content: "head" }],
        };
        const root = path.join(dir, "root");
        const staged = stageUpload(plan, root);
        expect(staged).toBe(path.join(root, "d".repeat(16)));
        expect(fs.readdirSync(root)).toEqual(["d".repeat(16)]); // no temp folder left
        expect(fs.readdirSync(staged).sort()).toEqual([stagedName(A), stagedHeadName(B), "install.sh", "uninstall.sh"]);
        expect(fs.readFileSync(path.join(staged, stagedHeadName(B)), "utf8")).toBe("head");
        expect(fs.readFileSync(path.join(staged, "install.sh"), "utf8")).toBe(SCRIPTS[1]!.content);
        expect(zlib.gunzipSync(fs.readFileSync(path.join(staged, stagedName(A)))).toString()).toBe("calico binary");
        // A later run (a preview) finds it and reads no binary.
        fs.rmSync(path.join(dir, "calico"));
        expect(stageUpload(plan, root)).toBe(staged);
    });

    test("a binary that cannot be read leaves no folder behind and names the file", () => {
        const plan = { digest: "e".repeat(64), files: [{ sha256: A, from: path.join(dir, "missing") }], scripts: SCRIPTS, heads: [] };
        const root = path.join(dir, "root");
        expect(() => stageUpload(plan, root)).toThrow(/missing/);
        expect(fs.readdirSync(root)).toEqual([]);
    });
});
