import { execSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import {
    type CniInstallPlan,
    type FramedFile,
    asRoot,
    cniInstallScript,
    cniUninstallScript,
    frameFiles,
    shq,
} from "../components/builders/hostScripts";

// The scripts run for real in a local shell, against a temp tree, exactly as the SSH session runs them.
/** Runs a script as the staged install runs its parts: with this host's node name in `$node`. */
function run(script: string, stdin = ""): string {
    return execSync(asRoot(`node=node-a\n${script}`, "root"), {
        input: stdin,
        encoding: "utf8",
        shell: "/bin/sh",
        stdio: ["pipe", "pipe", "pipe"],
    });
}

let dir: string;
let plan: CniInstallPlan;
let bin: string;
let up: string;
beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-host-"));
    bin = path.join(dir, "opt", "cni", "bin");
    up = path.join(dir, "home", ".calico-cni-upload", "cni-bin");
    fs.mkdirSync(up, { recursive: true });
    const ownerPath = path.join(dir, "net.d", "calico-kubeconfig");
    plan = { binDir: bin, uploadDir: up, recordPath: path.join(dir, "var", "record"), ownerPath, binaries: [] };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer | string) => crypto.createHash("sha256").update(b).digest("hex");
const mode = (p: string) => fs.statSync(p).mode & 0o777;
/** Every file under dir, relative, sorted. */
const tree = () => (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => fs.statSync(path.join(dir, p)).isFile()).sort();

/** A binary as its upload holds it: gzipped, named by its sha256 (builders/upload.ts). */
function stage(name: string, content: string): { name: string; source: "local"; sha256: string } {
    fs.writeFileSync(path.join(up, `${sha(content)}.gz`), zlib.gzipSync(content));
    return { name, source: "local", sha256: sha(content) };
}

function files(conflist: string): FramedFile[] {
    return [
        { path: path.join(dir, "net.d", "calico-kubeconfig"), mode: "0600", content: "client-key-data: c2VjcmV0\n" },
        { path: path.join(dir, "net.d", "10-calico.conflist"), mode: "0644", content: conflist },
    ];
}

test("shq survives quotes", () => {
    expect(execSync(`printf %s ${shq("it's a 'test'")}`, { encoding: "utf8" })).toBe("it's a 'test'");
});

describe("frameFiles", () => {
    test("length-prefixes each file, counting bytes, not characters", () => {
        expect(
            frameFiles([
                { path: "/a", mode: "0600", content: "é\n" },
                { path: "/b c", mode: "0644", content: "" },
            ]),
        ).toBe("3 0600 - /a\né\n0 0644 - /b c\n");
    });

    test("names a file's head by its sha256, before the path", () => {
        expect(frameFiles([{ path: "/a b", mode: "0600", content: "rest", head: "f".repeat(64) }])).toBe(
            `4 0600 ${"f".repeat(64)} /a b\nrest`,
        );
    });

    test.each([
        [{ path: "a", mode: "0644", content: "" }, 'host file "a": not an absolute path on one line'],
        [{ path: "/a\nb", mode: "0644", content: "" }, 'host file "/a\\nb": not an absolute path on one line'],
        [{ path: "/a", mode: "644", content: "" }, "host file /a: mode 644 is not octal like 0644"],
        [{ path: "/a", mode: "0899", content: "" }, "host file /a: mode 0899 is not octal like 0644"],
        [{ path: "/a", mode: "0600", content: "", head: "-" }, "host file /a: head - is not a hex sha256"],
    ])("refuses %j", (file, message) => {
        expect(() => frameFiles([file])).toThrow(new Error(message));
    });
});

describe("cniInstallScript", () => {
    test("waits while a calico-node on this node still renews the kubeconfig (switch from daemonset), then writes", () => {
        // A process with calico-node's env for this node, as the old DaemonSet pod has until it rolls.
        const env = { ...process.env, CALICO_MANAGE_CNI: "true", NODENAME: "node-a" };
        const other = spawn("sleep", ["30"], { env: { ...env, NODENAME: "node-b" } });
        const old = spawn("sleep", ["2"], { env });
        try {
            const t0 = Date.now();
            run(cniInstallScript(plan), frameFiles(files("{}")));
            // Another node's calico-node (visible in a shared /proc) is no reason to wait.
            expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
            expect(fs.readFileSync(plan.ownerPath, "utf8")).toContain("client-key-data");
            const still = spawn("sleep", ["30"], { env });
            try {
                expect(() => run(cniInstallScript({ ...plan, managedWaitSeconds: 1 }), frameFiles(files('{"x": 1}')))).toThrow(
                    /calico-node here still renews the CNI kubeconfig \(CALICO_MANAGE_CNI=true, cni.delivery daemonset\)/,
                );
                expect(fs.readFileSync(path.join(dir, "net.d", "10-calico.conflist"), "utf8")).toBe("{}");
            } finally {
                still.kill();
            }
        } finally {
            old.kill();
            other.kill();
        }
    });

    test("installs checked binaries by rename, then the stdin files with their modes, and records every path", () => {
        plan.binaries = [stage("calico", "calico binary"), stage("portmap", "portmap binary")];
        const conflist = '{"name": "k8s-pod-network"}';
        const odd = "no newline at the end\n12 0644 /not/a/header";
        run(cniInstallScript(plan), frameFiles([...files(conflist), { path: path.join(dir, "x", "odd"), mode: "0640", content: odd }]));
        expect(fs.readFileSync(path.join(bin, "calico"), "utf8")).toBe("calico binary");
        expect(mode(path.join(bin, "calico"))).toBe(0o755);
        expect(mode(path.join(dir, "net.d", "calico-kubeconfig"))).toBe(0o600);
        expect(fs.readFileSync(path.join(dir, "net.d", "10-calico.conflist"), "utf8")).toBe(conflist);
        expect(mode(path.join(dir, "net.d", "10-calico.conflist"))).toBe(0o644);
        expect(fs.readFileSync(path.join(dir, "x", "odd"), "utf8")).toBe(odd);
        expect(mode(path.join(dir, "x", "odd"))).toBe(0o640);
        // No temp file left, and the upload is gone once installed.
        expect(tree()).toEqual([
            "net.d/10-calico.conflist",
            "net.d/calico-kubeconfig",
            "opt/cni/bin/calico",
            "opt/cni/bin/portmap",
            "var/record",
            "var/record.owner",
            "x/odd",
        ]);
        expect(fs.readFileSync(`${plan.recordPath}.owner`, "utf8")).toBe(`${sha("client-key-data: c2VjcmV0\n")}  ${plan.ownerPath}\n`);
        expect(fs.readFileSync(plan.recordPath, "utf8").split("\n")).toEqual([
            `${bin}/calico`,
            `${bin}/portmap`,
            path.join(dir, "net.d", "calico-kubeconfig"),
            path.join(dir, "net.d", "10-calico.conflist"),
            path.join(dir, "x", "odd"),
            "",
        ]);
    });

    test("a binary whose upload does not unpack to its sha256 installs nothing and writes no file", () => {
        // The upload's portmap was tampered with: the file named for the configured sha256 holds other bytes.
        const tampered = stage("portmap", "tampered");
        fs.renameSync(path.join(up, `${tampered.sha256}.gz`), path.join(up, `${sha("portmap binary")}.gz`));
        plan.binaries = [stage("calico", "calico binary"), { ...tampered, sha256: sha("portmap binary") }];
        expect(() => run(cniInstallScript(plan), frameFiles(files("{}")))).toThrow(
            new RegExp(
                `portmap: the upload .*/${sha("portmap binary")}.gz is missing or does not unpack to sha256 ${sha("portmap binary")}`,
            ),
        );
        expect(tree()).toEqual(
            [
                `home/.calico-cni-upload/cni-bin/${sha("calico binary")}.gz`,
                `home/.calico-cni-upload/cni-bin/${sha("portmap binary")}.gz`,
            ].sort(),
        );
    });

    test("one content installs under two names (the release's calico-ipam is the calico binary)", () => {
        plan.binaries = [stage("calico", "calico binary"), stage("calico-ipam", "calico binary")];
        expect(fs.readdirSync(up)).toEqual([`${sha("calico binary")}.gz`]);
        run(cniInstallScript(plan), frameFiles(files("{}")));
        expect(fs.readFileSync(path.join(bin, "calico"), "utf8")).toBe("calico binary");
        expect(fs.readFileSync(path.join(bin, "calico-ipam"), "utf8")).toBe("calico binary");
        expect(mode(path.join(bin, "calico-ipam"))).toBe(0o755);
    });

    test("a file with a head is the upload's head, checked, then its stdin; the head stays for the next install", () => {
        const head = "apiVersion: v1\nclusters: [ca]\nusers:\n  - user:\n      client-certificate-data: ";
        fs.writeFileSync(path.join(up, `${sha(head)}.head`), head);
        const [kc, conflist] = files("{}");
        const framed = frameFiles([{ ...kc!, content: "Y2VydA==\n      client-key-data: c2VjcmV0\n", head: sha(head) }, conflist!]);
        run(cniInstallScript(plan), framed);
        expect(fs.readFileSync(kc!.path, "utf8")).toBe(`${head}Y2VydA==\n      client-key-data: c2VjcmV0\n`);
        expect(mode(kc!.path)).toBe(0o600);
        expect(fs.readdirSync(up)).toEqual([`${sha(head)}.head`]);
        // A head that is not what its name says is refused, and the kubeconfig stays as it was.
        fs.writeFileSync(path.join(up, `${sha(head)}.head`), head.replace("[ca]", "[other]"));
        expect(() => run(cniInstallScript(plan), framed)).toThrow(
            new RegExp(`calico-kubeconfig: the upload .*/${sha(head)}.head is missing or not sha256 ${sha(head)}`),
        );
        expect(fs.readFileSync(kc!.path, "utf8")).toBe(`${head}Y2VydA==\n      client-key-data: c2VjcmV0\n`);
        expect(tree().filter((p) => p.includes(".calico."))).toEqual([]);
    });

    test("stdin that ends inside a file leaves that file as it was, and the conflist after it unwritten", () => {
        const framed = frameFiles(files("{}"));
        const cut = framed.slice(0, framed.indexOf("c2VjcmV0"));
        expect(() => run(cniInstallScript(plan), cut)).toThrow(/stdin ended inside .*calico-kubeconfig/);
        expect(tree()).toEqual([]);
    });

    test("a re-run keeps binaries that already match, so a conflist change needs no upload", () => {
        plan.binaries = [stage("calico", "calico binary")];
        fs.writeFileSync(path.join(up, "install.sh"), "staged script\n");
        run(cniInstallScript(plan), frameFiles(files("{}")));
        // The binaries' archives go; the scripts stay for the next install.
        expect(fs.readdirSync(up)).toEqual(["install.sh"]);
        run(cniInstallScript(plan), frameFiles(files('{"mtu": 1430}')));
        expect(fs.readFileSync(path.join(dir, "net.d", "10-calico.conflist"), "utf8")).toBe('{"mtu": 1430}');
        // A new binary without its upload is refused, naming it.
        plan.binaries = [{ name: "calico", source: "local", sha256: sha("calico v2") }];
        expect(() => run(cniInstallScript(plan), frameFiles(files("{}")))).toThrow(/calico: the upload .* is missing or does not unpack/);
        expect(fs.readFileSync(path.join(bin, "calico"), "utf8")).toBe("calico binary");
    });

    test("removes what an earlier install wrote and this one does not (a binary switched off)", () => {
        plan.binaries = [stage("calico", "calico binary"), stage("bandwidth", "bandwidth binary")];
        run(cniInstallScript(plan), frameFiles(files("{}")));
        plan.binaries = [plan.binaries[0]!];
        run(cniInstallScript(plan), frameFiles(files("{}")));
        expect(tree()).toEqual([
            "net.d/10-calico.conflist",
            "net.d/calico-kubeconfig",
            "opt/cni/bin/calico",
            "var/record",
            "var/record.owner",
        ]);
    });

    test("downloads (file:// URLs): checks the download's sha256, extracts a tarball member", () => {
        fs.writeFileSync(path.join(dir, "loopback-amd64"), "loopback binary");
        const work = path.join(dir, "tar");
        fs.mkdirSync(work);
        fs.writeFileSync(path.join(work, "portmap"), "portmap binary");
        fs.writeFileSync(path.join(work, "bridge"), "bridge binary");
        const tgz = path.join(dir, "cni-plugins.tgz");
        execSync(`tar -czf ${tgz} -C ${work} ./portmap ./bridge`);
        const loopback = {
            name: "loopback",
            source: "download" as const,
            url: `file://${dir}/loopback-amd64`,
            sha256: sha("loopback binary"),
        };
        plan.binaries = [{ ...loopback, sha256: sha("nope") }];
        expect(() => run(cniInstallScript(plan))).toThrow();
        expect(fs.existsSync(path.join(bin, "loopback"))).toBe(false);
        plan.binaries = [
            loopback,
            { name: "portmap", source: "download", url: `file://${tgz}`, sha256: sha(fs.readFileSync(tgz)), archiveMember: "./portmap" },
        ];
        run(cniInstallScript(plan));
        expect(fs.readFileSync(path.join(bin, "loopback"), "utf8")).toBe("loopback binary");
        expect(fs.readFileSync(path.join(bin, "portmap"), "utf8")).toBe("portmap binary");
        expect(mode(path.join(bin, "portmap"))).toBe(0o755);
        expect(fs.readdirSync(bin).sort()).toEqual(["loopback", "portmap"]);
    });
});

test("cniUninstallScript removes every path written, the record and the upload, and is idempotent", () => {
    plan.binaries = [stage("calico", "calico binary"), stage("bandwidth", "bandwidth binary")];
    run(cniInstallScript(plan), frameFiles(files("{}")));
    fs.mkdirSync(up, { recursive: true });
    // The config no longer lists bandwidth; the record still does.
    const uninstall = cniUninstallScript(
        [path.join(dir, "net.d", "10-calico.conflist"), `${bin}/calico`],
        plan.recordPath,
        path.dirname(up),
    );
    run(uninstall);
    run(uninstall);
    expect(tree()).toEqual([]);
    expect(fs.existsSync(path.dirname(up))).toBe(false);
});

test("cniUninstallScript leaves a host another installer took over (a kubeconfig it did not write), and stops the delete there", () => {
    plan.binaries = [stage("calico", "calico binary")];
    run(cniInstallScript(plan), frameFiles(files("{}")));
    // What calico-node's install-cni does on a switch to cni.delivery daemonset: same paths, a token kubeconfig.
    fs.writeFileSync(plan.ownerPath, "token: eyJhbGciOi\n");
    fs.mkdirSync(up, { recursive: true });
    const marker = path.join(dir, "after");
    const uninstall = cniUninstallScript(
        [path.join(dir, "net.d", "10-calico.conflist"), `${bin}/calico`],
        plan.recordPath,
        path.dirname(up),
    );
    const r = spawnSync("/bin/sh", ["-c", asRoot(`${uninstall}\ntouch ${shq(marker)}`, "root")], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("is no longer the kubeconfig this program wrote (calico-node's install-cni has taken the host over)");
    // The files stay, the record and the upload go, and nothing after the uninstall ran (the dataplane cleanup).
    expect(tree()).toEqual(["net.d/10-calico.conflist", "net.d/calico-kubeconfig", "opt/cni/bin/calico"]);
    expect(fs.existsSync(path.dirname(up))).toBe(false);
});

test.each([
    [{ name: "calico ipam", source: "local" as const, sha256: "0".repeat(64) }],
    [{ name: "calico", source: "local" as const, sha256: "0123" }],
])("cniInstallScript refuses a binary that is not a plain name with a hex sha256: %j", (b) => {
    expect(() => cniInstallScript({ ...plan, binaries: [b] })).toThrow(
        new Error(`CNI binary ${b.name}: not a plain name with a hex sha256`),
    );
});
