import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import {
    INSTALL_SCRIPT,
    UNINSTALL_SCRIPT,
    type HostBundlePlan,
    hostBundle,
    hostDeleteCommand,
    hostInstallCommand,
} from "../components/builders/hostBundle";
import { asRoot, frameFiles, hostUninstallPath } from "../components/builders/hostScripts";
import { uploadPlan } from "../components/builders/upload";
import { stageUpload } from "../components/resources/uploadStage";
import { CNI_UPLOAD_DIR } from "../components/facts/names";
import type { CniBinary } from "../components/config/types";
import type { PreflightPlan } from "../components/builders/preflight";

// The whole life of one host's SSH delivery, for real in a temp tree: stage on "this machine", copy the
// folder as `<node>-cni-upload` does, run the install command as `<node>-cni-install` does (from the SSH
// user's home, files on stdin), again, with a new config, then its delete. The dataplane cleanup runs
// against stubbed ip/iptables/nft/ipset, so nothing of this machine's network is touched.

let dir: string;
let home: string;
let record: string;
let calls: string;
let port: number;
const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const mode = (p: string) => fs.statSync(p).mode & 0o777;
const at = (...p: string[]) => path.join(dir, ...p);

beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-bundle-"));
    home = at("home");
    record = at("var", "lib", "calico-hard-way", "cni-files");
    calls = at("calls");
    for (const d of ["home", "bins", "stubs", "host/proc/sys/net/ipv4", "state"]) fs.mkdirSync(at(d), { recursive: true });
    fs.writeFileSync(at("host/proc/sys/net/ipv4/ip_forward"), "1\n");
    for (const b of ["calico", "portmap"]) fs.writeFileSync(at("bins", b), `${b} binary`);
    // Tools the cleanup calls: each records its call; the dumps are empty (no Calico rule here).
    for (const t of ["ip", "nft", "ipset", "iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-save", "ip6tables-nft-save"])
        fs.writeFileSync(at("stubs", t), `#!/bin/sh\necho "${t} $*" >> ${calls}\n`, { mode: 0o755 });
    // gzip records its call too, then does the real work: the install must unpack each content once.
    const gzip = spawnSync("sh", ["-c", "command -v gzip"], { encoding: "utf8" }).stdout.trim();
    fs.writeFileSync(at("stubs", "gzip"), `#!/bin/sh\necho "gzip $*" >> ${calls}\nexec ${gzip} "$@"\n`, { mode: 0o755 });
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const local = (name: string, file = name): CniBinary => ({
    name,
    source: "local",
    path: at("bins", file),
    sha256: sha(`${file} binary`),
});

function bundlePlan(binaries: CniBinary[]): HostBundlePlan {
    return {
        binDir: at("opt/cni/bin"),
        confDir: at("etc/cni/net.d"),
        binaries,
        extraPaths: [],
        preflight: { confDir: at("etc/cni/net.d"), ipv6: false, interfaces: [], bpf: false, kubeProxyRemoved: false, peerChecks: false },
        preflightOptions: { root: at("host") },
        recordPath: record,
        cleanupOptions: { felixHealthPort: port, waitSeconds: 1, stateDirs: [at("state")] },
        afterInstall: "",
    };
}

const node: PreflightPlan = {
    node: "node-a",
    peers: [],
    confDir: "",
    ipv6: false,
    interfaces: [],
    bpf: false,
    kubeProxyRemoved: false,
    peerChecks: false,
};

/** Stages the upload for these binaries and copies it to the host, as `<node>-cni-upload` does; returns the command's upload folder. */
function upload(binaries: CniBinary[], edit: (p: HostBundlePlan) => HostBundlePlan = (p) => p): string {
    const plan = uploadPlan(binaries, hostBundle(edit(bundlePlan(binaries))), [KC_HEAD]);
    const staged = stageUpload(plan, at("stage"));
    const to = path.join(home, CNI_UPLOAD_DIR, path.basename(staged));
    fs.cpSync(staged, to, { recursive: true });
    return `${CNI_UPLOAD_DIR}/${path.basename(staged)}`;
}

function host(script: string, stdin = ""): { status: number | null; stderr: string } {
    const r = spawnSync("/bin/sh", ["-c", asRoot(script, "root")], {
        cwd: home,
        input: stdin,
        encoding: "utf8",
        env: { PATH: `${at("stubs")}:/usr/bin:/bin` },
    });
    return { status: r.status, stderr: r.stderr };
}

/** The kubeconfig's public head, staged in the upload; each node's stdin carries the rest (see clientKubeconfigParts). */
const KC_HEAD = "clusters: [ca]\nusers:\n  - user:\n      client-certificate-data: ";
const KC_REST = "Y2VydA==\n      client-key-data: c2VjcmV0\n";
const stdin = (conflist: string) =>
    frameFiles([
        { path: at("etc/cni/net.d/calico-kubeconfig"), mode: "0600", content: KC_REST, head: sha(KC_HEAD) },
        { path: at("etc/cni/net.d/10-calico.conflist"), mode: "0644", content: conflist },
    ]);

/** Every file under dir but the test's own (stubs, binaries, staging, the fake /proc), relative, sorted. */
const hostFiles = () =>
    (fs.readdirSync(dir, { recursive: true }) as string[])
        .filter((p) => !/^(stubs|bins|stage|host|calls)(\/|$)/.test(p) && fs.statSync(at(p)).isFile())
        .sort();

test("the staged scripts: the node's name and peers are arguments, the rest is the same for every node", () => {
    const [install, uninstall] = hostBundle(bundlePlan([local("calico")]));
    expect([install!.name, uninstall!.name]).toEqual([INSTALL_SCRIPT, UNINSTALL_SCRIPT]);
    expect(install!.content).not.toContain("node-a");
    const peers: PreflightPlan = { ...node, peers: [{ name: "node-b", address: "10.0.0.2" }], peerChecks: true };
    expect(hostInstallCommand(".calico-cni-upload/abc", peers)).toBe(
        `s='.calico-cni-upload/abc/install.sh'\n` +
            `[ -f "$s" ] || { echo "$s is missing, so its upload is gone from this host: replace the resource node-a-cni-upload (pulumi up --replace with its URN)" >&2; exit 1; }\n` +
            `exec sh "$s" 'node-a' 'node-b=10.0.0.2'`,
    );
});

test("install, re-install, a new config, delete: every file where it belongs, then none", () => {
    // calico-ipam is the calico binary again: uploaded once, installed twice.
    const v1 = [local("calico"), local("calico-ipam", "calico")];
    const up1 = upload(v1);
    expect(fs.readdirSync(path.join(home, up1)).sort()).toEqual(
        [`${sha("calico binary")}.gz`, `${sha(KC_HEAD)}.head`, INSTALL_SCRIPT, UNINSTALL_SCRIPT].sort(),
    );
    expect(host(hostInstallCommand(up1, node), stdin("{}"))).toEqual({ status: 0, stderr: "" });
    expect(hostFiles()).toEqual([
        "etc/cni/net.d/10-calico.conflist",
        "etc/cni/net.d/calico-kubeconfig",
        `home/${up1}/${sha(KC_HEAD)}.head`,
        `home/${up1}/${INSTALL_SCRIPT}`,
        `home/${up1}/${UNINSTALL_SCRIPT}`,
        "opt/cni/bin/calico",
        "opt/cni/bin/calico-ipam",
        "var/lib/calico-hard-way/cni-files",
        "var/lib/calico-hard-way/cni-files.owner",
        "var/lib/calico-hard-way/cni-files.uninstall",
    ]);
    expect(fs.readFileSync(at("opt/cni/bin/calico-ipam"), "utf8")).toBe("calico binary");
    // Unpacked and checked once, copied for the second name: two files, not two names of one.
    expect(fs.readFileSync(calls, "utf8").match(/^gzip .*$/gm)).toEqual([`gzip -dc ${up1}/${sha("calico binary")}.gz`]);
    expect(fs.statSync(at("opt/cni/bin/calico-ipam")).ino).not.toBe(fs.statSync(at("opt/cni/bin/calico")).ino);
    expect(mode(at("opt/cni/bin/calico-ipam"))).toBe(0o755);
    expect(mode(at("etc/cni/net.d/calico-kubeconfig"))).toBe(0o600);
    expect(fs.readFileSync(at("etc/cni/net.d/calico-kubeconfig"), "utf8")).toBe(KC_HEAD + KC_REST);
    expect(fs.readFileSync(hostUninstallPath(record), "utf8")).toBe(fs.readFileSync(path.join(home, up1, UNINSTALL_SCRIPT), "utf8"));

    // An update (a new conflist on stdin) runs the same command: the upload's archives are gone, its scripts are not.
    expect(host(hostInstallCommand(up1, node), stdin('{"mtu": 1400}'))).toEqual({ status: 0, stderr: "" });
    expect(fs.readFileSync(at("etc/cni/net.d/10-calico.conflist"), "utf8")).toBe('{"mtu": 1400}');
    expect(fs.readFileSync(at("etc/cni/net.d/calico-kubeconfig"), "utf8")).toBe(KC_HEAD + KC_REST);

    // A new binary: a new folder; its install removes the old folder and keeps the record of both binaries' paths.
    const v2 = [...v1, local("portmap")];
    const up2 = upload(v2);
    expect(up2).not.toBe(up1);
    expect(host(hostInstallCommand(up2, node), stdin("{}"))).toEqual({ status: 0, stderr: "" });
    expect(fs.readdirSync(path.join(home, CNI_UPLOAD_DIR))).toEqual([path.basename(up2)]);
    expect(fs.readFileSync(at("opt/cni/bin/portmap"), "utf8")).toBe("portmap binary");
    expect(fs.readFileSync(record, "utf8")).toContain(at("opt/cni/bin/portmap"));

    // The delete runs the uninstall the host holds: every file, the record, the uploads, then the dataplane cleanup.
    fs.writeFileSync(at("state", "nodename"), "node-a");
    expect(host(hostDeleteCommand(record))).toEqual({ status: 0, stderr: "" });
    expect(hostFiles()).toEqual([]);
    expect(fs.existsSync(path.join(home, CNI_UPLOAD_DIR))).toBe(false);
    expect(fs.existsSync(at("state"))).toBe(false);
    expect(fs.readFileSync(calls, "utf8")).toContain("ip -4 route flush table all proto bird");

    // Again: nothing recorded here, nothing removed, and no failure (a host rebuilt since also has none).
    const again = host(hostDeleteCommand(record));
    expect(again.status).toBe(0);
    expect(again.stderr).toBe(`${hostUninstallPath(record)} is missing: no install of this program recorded here, nothing removed\n`);
});

describe("a host whose record is at its former path (the slug without its hyphen)", () => {
    const legacy = () => at("var", "lib", "calico-hardway", "cni-files");
    const installedBefore = () => {
        const up = upload([local("calico"), local("portmap")], (p) => ({ ...p, recordPath: legacy() }));
        expect(host(hostInstallCommand(up, node), stdin("{}"))).toEqual({ status: 0, stderr: "" });
        expect(fs.readFileSync(legacy(), "utf8")).toContain(at("opt/cni/bin/portmap"));
    };

    test("the next install moves the record over and removes what it no longer writes", () => {
        installedBefore();
        const up = upload([local("calico")], (p) => ({ ...p, legacyRecordPath: legacy() }));
        expect(host(hostInstallCommand(up, node), stdin("{}"))).toEqual({ status: 0, stderr: "" });
        expect(fs.existsSync(at("var/lib/calico-hardway"))).toBe(false);
        expect(fs.existsSync(at("opt/cni/bin/portmap"))).toBe(false);
        expect(fs.readFileSync(record, "utf8")).toContain(at("opt/cni/bin/calico"));
        expect(fs.readFileSync(hostUninstallPath(record), "utf8")).toBe(fs.readFileSync(path.join(home, up, UNINSTALL_SCRIPT), "utf8"));
        fs.writeFileSync(at("state", "nodename"), "node-a");
        expect(host(hostDeleteCommand(record, legacy()))).toEqual({ status: 0, stderr: "" });
        expect(hostFiles()).toEqual([]);
    });

    test("a delete before any new install runs the uninstall at the former path", () => {
        installedBefore();
        fs.writeFileSync(at("state", "nodename"), "node-a");
        expect(host(hostDeleteCommand(record, legacy()))).toEqual({ status: 0, stderr: "" });
        expect(hostFiles()).toEqual([]);
    });
});

test("a failed preflight writes nothing, not even the uninstall", () => {
    fs.writeFileSync(at("host/proc/sys/net/ipv4/ip_forward"), "0\n");
    const up = upload([local("calico")]);
    const before = hostFiles();
    const r = host(hostInstallCommand(up, node), stdin("{}"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("preflight node-a: net.ipv4.ip_forward is 0");
    expect(hostFiles()).toEqual(before);
});

test("an upload that is gone from the host is named, with the resource to replace", () => {
    const up = upload([local("calico")]);
    fs.rmSync(path.join(home, CNI_UPLOAD_DIR), { recursive: true });
    const r = host(hostInstallCommand(up, node), stdin("{}"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("its upload is gone from this host: replace the resource node-a-cni-upload");
    expect(hostFiles()).toEqual([]);
});
