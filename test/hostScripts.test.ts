import { execSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { asRoot, downloadScript, installStagedScript, removeFileScript, shq, writeFileScript } from "../components/builders/hostScripts";

// The scripts run for real in a local shell, against a temp tree, exactly as the SSH session runs them.
function run(script: string, stdin = ""): string {
    return execSync(asRoot(script, "root"), { input: stdin, encoding: "utf8", shell: "/bin/sh" });
}

let dir: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-host-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");

test("shq survives quotes", () => {
    expect(execSync(`printf %s ${shq("it's a 'test'")}`, { encoding: "utf8" })).toBe("it's a 'test'");
});

test("writeFileScript writes stdin with the mode, creating the directory, and leaves no temp file", () => {
    const file = path.join(dir, "net.d", "calico-kubeconfig");
    run(writeFileScript(file, "0600"), "secret: yes\n");
    expect(fs.readFileSync(file, "utf8")).toBe("secret: yes\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(["calico-kubeconfig"]);
    run(writeFileScript(file, "0600"), "secret: changed\n");
    expect(fs.readFileSync(file, "utf8")).toBe("secret: changed\n");
});

test("removeFileScript deletes, and is idempotent", () => {
    const file = path.join(dir, "10-calico.conflist");
    fs.writeFileSync(file, "{}");
    run(removeFileScript(file));
    run(removeFileScript(file));
    expect(fs.existsSync(file)).toBe(false);
});

test("installStagedScript installs a file whose sha256 matches, and refuses one that doesn't", () => {
    const staging = path.join(dir, ".calico.upload");
    const dest = path.join(dir, "bin", "calico");
    fs.writeFileSync(staging, "binary");
    expect(() => run(installStagedScript(staging, sha("other"), dest))).toThrow();
    expect(fs.existsSync(dest)).toBe(false);
    run(installStagedScript(staging, sha("binary"), dest));
    expect(fs.readFileSync(dest, "utf8")).toBe("binary");
    expect(fs.statSync(dest).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(staging)).toBe(false);
});

describe("downloadScript (file:// URLs)", () => {
    test("checks the download's sha256 and installs it", () => {
        const src = path.join(dir, "calico-amd64");
        fs.writeFileSync(src, "calico binary");
        const dest = path.join(dir, "opt", "calico");
        expect(() => run(downloadScript(`file://${src}`, sha("nope"), dest))).toThrow();
        expect(fs.existsSync(dest)).toBe(false);
        run(downloadScript(`file://${src}`, sha("calico binary"), dest));
        expect(fs.readFileSync(dest, "utf8")).toBe("calico binary");
        expect(fs.statSync(dest).mode & 0o777).toBe(0o755);
    });

    test("extracts one member of a checked tarball", () => {
        const work = path.join(dir, "tar");
        fs.mkdirSync(work);
        fs.writeFileSync(path.join(work, "portmap"), "portmap binary");
        fs.writeFileSync(path.join(work, "bridge"), "bridge binary");
        const tgz = path.join(dir, "cni-plugins.tgz");
        execSync(`tar -czf ${tgz} -C ${work} ./portmap ./bridge`);
        const dest = path.join(dir, "bin", "portmap");
        run(downloadScript(`file://${tgz}`, sha(fs.readFileSync(tgz)), dest, "./portmap"));
        expect(fs.readFileSync(dest, "utf8")).toBe("portmap binary");
        expect(fs.readdirSync(path.join(dir, "bin"))).toEqual(["portmap"]);
    });
});
