import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

// The sandbox's one list of tools (sandbox/toolchain/TOOLS): a cold `npm run sandbox` once built a list
// that left a tool out, then required it. Here the list, the builder and its two users must agree.
const root = path.join(__dirname, "..");
const sandbox = path.join(root, "sandbox");
const read = (f: string) => fs.readFileSync(path.join(sandbox, f), "utf8");

/** TOOLS as [tool, files in <toolchain>/bin]. */
function tools(): [string, string[]][] {
    return read("toolchain/TOOLS")
        .split("\n")
        .filter((l) => l.trim() !== "" && !l.startsWith("#"))
        .map((l) => {
            const [name, ...bins] = l.trim().split(/\s+/);
            return [name!, bins];
        });
}

/** The tools build-toolchain.sh's dispatch knows: `    name) build_x ;;` lines. */
function dispatched(): string[] {
    const text = read("build-toolchain.sh");
    const block = text.slice(text.lastIndexOf('case "$t" in'), text.lastIndexOf("esac"));
    return [...block.matchAll(/^\s+([a-z0-9-]+)\) build_[a-z_]+ ;;$/gm)].map((m) => m[1]!);
}

/** A toolchain dir with every file TOOLS names (empty executables), every stamp, and the image roots. */
function fakeToolchain(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-"));
    fs.mkdirSync(path.join(dir, "bin"));
    for (const [, bins] of tools()) for (const b of bins) fs.writeFileSync(path.join(dir, "bin", b), "", { mode: 0o755 });
    fs.writeFileSync(
        path.join(dir, "versions"),
        tools()
            .map(([t]) => `${t} v0\n`)
            .join(""),
    );
    for (const f of [
        "node/usr/bin/calico-node",
        "cni/opt/cni/bin/portmap",
        "cni/opt/cni/bin/install",
        "ctl/usr/bin/calicoctl",
        "typha/usr/bin/calico-typha",
        "kube-controllers/usr/bin/kube-controllers",
    ]) {
        fs.mkdirSync(path.dirname(path.join(dir, "images", f)), { recursive: true });
        fs.writeFileSync(path.join(dir, "images", f), "", { mode: 0o755 });
    }
    fs.mkdirSync(path.join(dir, "share/kwok/stages"), { recursive: true });
    return dir;
}

function check(toolchain: string) {
    const r = spawnSync("bash", [path.join(sandbox, "build-toolchain.sh"), "--check"], {
        env: { ...process.env, CALICO_HW_TOOLCHAIN: toolchain },
        encoding: "utf8",
    });
    return { status: r.status, out: r.stdout + r.stderr };
}

describe("the sandbox's tool list", () => {
    test("names each tool once, each with the files it builds", () => {
        const names = tools().map(([t]) => t);
        expect(new Set(names).size).toBe(names.length);
        expect(names).toEqual(
            expect.arrayContaining(["node", "pulumi", "tls-provider", "command-provider", "calico", "sbx-kubelet", "kubectl"]),
        );
        for (const [, bins] of tools()) expect(bins.length).toBeGreaterThan(0);
    });

    test("build-toolchain.sh builds exactly the tools of the list", () => {
        expect(dispatched().sort()).toEqual(
            tools()
                .map(([t]) => t)
                .sort(),
        );
    });

    test("up.sh builds the whole list (no tool list of its own) and then checks it", () => {
        const up = read("up.sh");
        expect(up).toMatch(/^\s+"\$SANDBOX_DIR\/build-toolchain\.sh"$/m);
        expect(up).toContain('"$SANDBOX_DIR/build-toolchain.sh" --check');
        // No check of its own: it once tested for a binary its own build list left out.
        expect(up).not.toMatch(/-x "\$TOOLBIN\//);
    });

    test("toolchain-ready.sh is the list's check", () => {
        expect(read("toolchain-ready.sh")).toMatch(/exec bash .*build-toolchain\.sh" --check$/m);
    });

    test("--check passes on a toolchain with every file of the list", () => {
        const dir = fakeToolchain();
        expect(check(dir)).toEqual({ status: 0, out: `sandbox toolchain ready in ${dir}\n` });
    });

    test.each(tools().map(([t, bins]) => [t, bins[bins.length - 1]!]))("--check fails without %s's %s, naming it", (_tool, bin) => {
        const dir = fakeToolchain();
        fs.rmSync(path.join(dir, "bin", bin));
        const r = check(dir);
        expect(r.status).toBe(1);
        expect(r.out).toContain(`missing ${bin} (build: sandbox/build-toolchain.sh)`);
    });

    test("--check fails on a file without its stamp (a build that did not finish)", () => {
        const dir = fakeToolchain();
        fs.writeFileSync(path.join(dir, "versions"), fs.readFileSync(path.join(dir, "versions"), "utf8").replace(/^sbx-kubelet .*\n/m, ""));
        expect(check(dir)).toMatchObject({ status: 1, out: expect.stringContaining("missing versions:sbx-kubelet") });
    });
});
