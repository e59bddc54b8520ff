import type * as k8s from "@kubernetes/client-node";
import type * as auto from "@pulumi/pulumi/automation";
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { NS, nodeTree, REPO } from "../lib/env";
import { calicoLeftovers } from "../lib/host";
import { Kube, PT_NS, refText, type ObjectRef } from "../lib/kube";
import { filesUnder, sshNodes } from "../lib/machine";
import { run, sleep, waitFor } from "../lib/proc";
import { kubernetesObjects, realChanges, stepText, type OpResult, type StackConfig } from "../lib/stack";
import type { Check, Ctx } from "../lib/types";

/**
 * The committed sandbox stack's whole lifecycle: up from scratch, the files on the nodes, the identities
 * and certificates, a no-op up, one config change at a time (a pool enabled, a node's sshd down with an MTU
 * change, a node removed and re-added), the secrets in the state, and a destroy that leaves nothing.
 *
 * ctx.shared "objects" (ObjectRef[]): the Kubernetes objects the state held after the first up; destroyAll
 * checks every one is gone.
 */
const BINARIES = ["calico", "calico-ipam", "portmap", "loopback", "host-local"];
const CNI_BIN = path.join(REPO, "sandbox/.state/cni-bin");
const IPPOOL = (name: string): ObjectRef => ({ apiVersion: "crd.projectcalico.org/v1", kind: "IPPool", name });
/** sshd stopped in sshFault; removed from config in removeNode; cluster.caFromNode (stays). */
const faultNode = (ctx: Ctx) => ctx.nodes[1]!;
const removedNode = (ctx: Ctx) => ctx.nodes[2]!;
const caNode = (ctx: Ctx) => ctx.nodes[0]!;

const sha256 = (f: string): string => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
const conflistPath = (node: string): string => path.join(nodeTree(node), "etc/cni/net.d/10-calico.conflist");
const changesText = (c: Record<string, number>): string =>
    Object.entries(c)
        .map(([op, n]) => `${n} ${op}`)
        .join(", ") || "none";

interface Conflist {
    name?: string;
    plugins?: {
        type?: string;
        nodename?: string;
        mtu?: number;
        datastore_type?: string;
        kubernetes?: { kubeconfig?: string };
        ipam?: { type?: string };
    }[];
}
function conflist(node: string): Conflist {
    try {
        return JSON.parse(fs.readFileSync(conflistPath(node), "utf8")) as Conflist;
    } catch (e) {
        throw new Error(`${node}: 10-calico.conflist is not valid JSON (${(e as Error).message})`);
    }
}

/** Binaries (executable, the configured sha256), calico-kubeconfig 0600, and the conflist's fields on a node's tree. */
export function nodeFilesOk(node: string, mtu: number): void {
    const t = nodeTree(node);
    for (const b of BINARIES) {
        const f = path.join(t, "opt/cni/bin", b);
        let st: fs.Stats | undefined;
        try {
            st = fs.statSync(f);
        } catch {
            st = undefined;
        }
        if (!st?.isFile() || (st.mode & 0o111) === 0) throw new Error(`${node}: /opt/cni/bin/${b} missing or not executable`);
        const want = sha256(path.join(CNI_BIN, b));
        const got = sha256(f);
        if (got !== want) throw new Error(`${node}: /opt/cni/bin/${b} sha256 ${got}, configured ${want}`);
    }
    const kc = path.join(t, "etc/cni/net.d/calico-kubeconfig");
    if (!fs.existsSync(kc)) throw new Error(`${node}: calico-kubeconfig missing`);
    const mode = (fs.statSync(kc).mode & 0o777).toString(8);
    if (mode !== "600") throw new Error(`${node}: calico-kubeconfig mode ${mode}, want 600`);
    const c = conflist(node);
    const p = c.plugins?.[0];
    const good =
        c.name === "k8s-pod-network" &&
        p?.type === "calico" &&
        p.nodename === node &&
        p.mtu === mtu &&
        p.kubernetes?.kubeconfig === "/etc/cni/net.d/calico-kubeconfig" &&
        p.ipam?.type === "calico-ipam" &&
        p.datastore_type === "kubernetes" &&
        (c.plugins ?? []).some((x) => x.type === "portmap");
    if (!good)
        throw new Error(
            `${node}: 10-calico.conflist fields wrong: ${JSON.stringify({ nodename: p?.nodename, mtu: p?.mtu, kubernetes: p?.kubernetes, ipam: p?.ipam })}`,
        );
}

export const upFromScratch: Check = {
    name: "up-from-scratch",
    title: "up from scratch; every Calico object live; Typha, calico-node Ready",
    gate: true,
    run: async (ctx) => {
        const r = await ctx.stack.upOk("up-scratch");
        const created = r.changes.create ?? 0;
        ctx.figure(`pulumi up from scratch (${created} resources) (s)`, r.seconds);
        ctx.ok(`pulumi up from scratch (${r.seconds}s): + ${created} created`);
        const objects = kubernetesObjects((await ctx.stack.exportState()).deployment.resources);
        ctx.shared.set("objects", objects);
        if (objects.length < 40) throw new Error(`only ${objects.length} Kubernetes objects in the state`);
        const missing: string[] = [];
        for (const o of objects) if (!(await ctx.kube.get(o))) missing.push(refText(o));
        if (missing.length)
            throw new Error(`${missing.length} of ${objects.length} Calico objects not in the API server: ${missing.join(", ")}`);
        const kinds = new Map<string, number>();
        for (const o of objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
        const byKind = [...kinds.keys()]
            .sort()
            .map((k) => `${kinds.get(k)} ${k}`)
            .join(", ");
        ctx.ok(`all ${objects.length} Calico objects from the state exist in the API server (${byKind})`);
        for (const p of ["ipv4-ippool-1", "ipv4-ippool-2"]) if (!(await ctx.kube.get(IPPOOL(p)))) throw new Error(`IPPool ${p} missing`);
        const typha = await ctx.kube.rollout("Deployment", "calico-typha", 120).catch((e: Error) => {
            throw new Error(`Typha not Ready: ${e.message}`);
        });
        await ctx.kube.rollout("DaemonSet", "calico-node", 120).catch((e: Error) => {
            throw new Error(`calico-node not Ready: ${e.message}`);
        });
        await ctx.kube.rollout("Deployment", "calico-kube-controllers", 120).catch((e: Error) => {
            throw new Error(`kube-controllers not Ready: ${e.message}`);
        });
        const ds = await ctx.kube.apps.readNamespacedDaemonSet({ namespace: NS, name: "calico-node" });
        const ready = `${ds.status?.numberReady}/${ds.status?.desiredNumberScheduled}`;
        if (ready !== `${ctx.nodes.length}/${ctx.nodes.length}`) throw new Error(`calico-node Ready ${ready}`);
        ctx.ok(
            `Typha ${typha} Ready, calico-node ${ready} Ready, kube-controllers Ready (sbx-kubelet: real processes, real readiness probes)`,
        );
    },
};

export const nodeFiles: Check = {
    name: "node-files",
    title: "node trees: binaries+sha256; kubeconfig 0600, the stack's byte for byte; no secret in the upload; conflist fields",
    run: async (ctx) => {
        // The host assembles the kubeconfig from the upload's public head and its stdin's rest: byte for byte the stack's.
        const out = (await ctx.stack.outputs()).cniKubeconfig?.value;
        if (typeof out !== "string" || !out) throw new Error("the stack has no cniKubeconfig output");
        for (const n of ctx.nodes) {
            nodeFilesOk(n, 1500);
            const t = nodeTree(n);
            if (!fs.readFileSync(path.join(t, "etc/cni/net.d/calico-kubeconfig")).equals(Buffer.from(out, "utf8")))
                throw new Error(`${n}: calico-kubeconfig differs from the stack's cniKubeconfig output`);
            const upload = await run("find", [t, "-path", "*/.calico-cni-upload/*", "-type", "f"]);
            const leaked = upload.stdout
                .split("\n")
                .filter(Boolean)
                .filter((f) => /PRIVATE KEY|client-key-data/.test(fs.readFileSync(f, "utf8")));
            if (leaked.length) throw new Error(`${n}: the upload holds secret material: ${leaked.join(" ")}`);
            ctx.ok(
                `${n}: ${BINARIES.length} binaries executable with the configured sha256; calico-kubeconfig 0600, the stack's cniKubeconfig byte for byte; nothing secret in the upload; conflist nodename=${n} mtu=1500 kubeconfig=/etc/cni/net.d/calico-kubeconfig ipam=calico-ipam`,
            );
        }
    },
};

/**
 * Who may do what: subject (cni = the CNI kubeconfig itself, else a kube-system ServiceAccount), expected
 * answer, verb, resource (resource.group, /subresource, @name), namespace (- for cluster scope).
 */
const CAN_I = `
cni                     yes get    pods                                  default
cni                     yes patch  pods/status                           default
cni                     yes get    nodes                                 -
cni                     yes get    namespaces                            -
cni                     yes create ipamblocks.crd.projectcalico.org      -
cni                     yes list   ippools.crd.projectcalico.org         -
cni                     yes create ipamhandles.crd.projectcalico.org     -
cni                     no  list   secrets                               kube-system
cni                     no  delete nodes                                 -
cni                     no  create pods                                  default
cni                     no  list   pods                                  -
calico-node             yes get    nodes                                 -
calico-node             yes patch  nodes/status                          -
calico-node             yes watch  endpointslices.discovery.k8s.io       -
calico-node             yes list   felixconfigurations.crd.projectcalico.org -
calico-node             yes create ipamblocks.crd.projectcalico.org      -
calico-node             yes update caliconodestatuses.crd.projectcalico.org -
calico-node             yes create serviceaccounts/token@calico-cni-plugin kube-system
calico-node             no  create serviceaccounts/token@calico-node     kube-system
calico-node             no  list   secrets                               kube-system
calico-node             no  delete nodes                                 -
calico-node             no  delete pods                                  kube-system
calico-node             no  create clusterrolebindings.rbac.authorization.k8s.io -
calico-typha            yes list   pods                                  -
calico-typha            yes watch  nodes                                 -
calico-typha            yes list   globalnetworkpolicies.crd.projectcalico.org -
calico-typha            yes update clusterinformations.crd.projectcalico.org -
calico-typha            yes list   endpointslices.discovery.k8s.io       -
calico-typha            no  list   secrets                               kube-system
calico-typha            no  delete nodes                                 -
calico-typha            no  create ippools.crd.projectcalico.org         -
calico-typha            no  create serviceaccounts/token                 kube-system
calico-kube-controllers yes watch  nodes                                 -
calico-kube-controllers yes list   pods                                  -
calico-kube-controllers yes delete ipamblocks.crd.projectcalico.org      -
calico-kube-controllers yes update kubecontrollersconfigurations.crd.projectcalico.org -
calico-kube-controllers yes create hostendpoints.crd.projectcalico.org   -
calico-kube-controllers no  list   secrets                               kube-system
calico-kube-controllers no  delete nodes                                 -
calico-kube-controllers no  create ippools.crd.projectcalico.org         -
calico-kube-controllers no  create pods                                  kube-system
`;

/** One row's access review: "pods/status" -> pods + subresource status; "serviceaccounts/token@NAME" -> name NAME. */
function resourceAttributes(verb: string, res: string, namespace: string): k8s.V1ResourceAttributes {
    const [r, name] = res.split("@") as [string, string | undefined];
    const [resGroup, subresource] = r.split("/") as [string, string | undefined];
    const dot = resGroup.indexOf(".");
    const resource = dot < 0 ? resGroup : resGroup.slice(0, dot);
    const group = dot < 0 ? "" : resGroup.slice(dot + 1);
    return { verb, group, resource, subresource, name, namespace };
}

export const cniIdentity: Check = {
    name: "cni-identity",
    title: "CNI kubeconfig is calico-cni; can-i matrix for 4 identities",
    run: async (ctx) => {
        const kc = path.join(nodeTree(caNode(ctx)), "etc/cni/net.d/calico-kubeconfig");
        const cni = new Kube(kc);
        const who = await cni.whoami().catch((e: Error) => {
            throw new Error(`the CNI kubeconfig from ${caNode(ctx)} does not authenticate: ${e.message}`);
        });
        if (who !== "calico-cni") throw new Error(`CNI kubeconfig authenticates as '${who}', want calico-cni`);
        ctx.ok(`CNI kubeconfig from ${caNode(ctx)}'s tree authenticates to https://127.0.0.1:6443 as ${who}`);
        const table: string[] = [];
        const wrong: string[] = [];
        let rows = 0;
        for (const line of CAN_I.split("\n")) {
            const [subj, want, verb, res, ns] = line.trim().split(/\s+/);
            if (!subj || !want || !verb || !res || !ns) continue;
            // Cluster scope: a yes must hold cluster-wide; a no must hold even in `default` (where
            // `kubectl auth can-i` without -n asks). Each is the stricter reading of the row.
            const namespace = ns !== "-" ? ns : want === "yes" ? "" : "default";
            const attrs = resourceAttributes(verb, res, namespace);
            const allowed = subj === "cni" ? await cni.selfCan(attrs) : await ctx.kube.serviceAccountCan(subj, NS, attrs);
            const got = allowed ? "yes" : "no";
            rows++;
            table.push(`${subj.padEnd(24)} ${verb.padEnd(6)} ${res.padEnd(52)} ${(ns === "-" ? "cluster" : ns).padEnd(12)} ${got}`);
            if (got !== want) wrong.push(`${subj} can-i ${verb} ${res}${ns === "-" ? "" : ` -n ${ns}`}: ${got}, want ${want}`);
        }
        fs.writeFileSync(path.join(ctx.logDir, "can-i.txt"), `${table.join("\n")}\n`);
        if (wrong.length) throw new Error(`${wrong.length} of ${rows} can-i rows wrong: ${wrong.join("; ")}`);
        ctx.ok(
            `can-i matrix: ${rows} rows hold for calico-cni (its kubeconfig), calico-node, calico-typha, calico-kube-controllers (their ServiceAccounts); denied include list secrets, delete nodes`,
        );
        // Typha runs as calico-typha (not calico-node, as in old manifests).
        const d = await ctx.kube.apps.readNamespacedDeployment({ namespace: NS, name: "calico-typha" });
        const sa = d.spec?.template.spec?.serviceAccountName;
        if (sa !== "calico-typha") throw new Error(`Typha runs as ServiceAccount ${sa}, the matrix assumed calico-typha`);
    },
};

async function openssl(args: string[], input?: string): Promise<{ code: number; text: string }> {
    const r = await run("openssl", args, { timeoutS: 15, input });
    return { code: r.code, text: `${r.stdout}${r.stderr}` };
}
async function certFacts(file: string): Promise<{ subject: string; eku: string }> {
    const subject = (await openssl(["x509", "-in", file, "-noout", "-subject", "-nameopt", "RFC2253"])).text.trim();
    const eku = (await openssl(["x509", "-in", file, "-noout", "-ext", "extendedKeyUsage"])).text.trim();
    return { subject, eku };
}
function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.on("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}
const tcpOpen = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
        const c = net.connect(port, "127.0.0.1");
        c.on("connect", () => (c.destroy(), resolve(true)));
        c.on("error", () => resolve(false));
    });

export const workloadTls: Check = {
    name: "workload-tls",
    title: "Typha/node certs verify, CN+EKU; mTLS handshake; no-cert refused",
    run: async (ctx) => {
        // Keys only in a private temp dir, deleted after; the openssl logs stay in the style's log dir.
        const d = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-tls-"));
        fs.chmodSync(d, 0o700);
        const logs = path.join(ctx.logDir, "tls");
        fs.mkdirSync(logs, { recursive: true });
        try {
            const k = ctx.kube;
            const files: [string, string | undefined][] = [
                ["ca.crt", await k.configMapKey(NS, "calico-typha-ca", "typhaca.crt")],
                ["typha.crt", await k.secretKey(NS, "calico-typha-certs", "typha.crt")],
                ["typha.key", await k.secretKey(NS, "calico-typha-certs", "typha.key")],
                ["node.crt", await k.secretKey(NS, "calico-node-certs", "calico-node.crt")],
                ["node.key", await k.secretKey(NS, "calico-node-certs", "calico-node.key")],
            ];
            for (const [f, v] of files) {
                if (!v) throw new Error(`no ${f} in the Typha CA ConfigMap / certs Secrets`);
                fs.writeFileSync(path.join(d, f), v, { mode: 0o600 });
            }
            const p = (f: string) => path.join(d, f);
            const v = await openssl(["verify", "-CAfile", p("ca.crt"), p("typha.crt"), p("node.crt")]);
            if (v.code !== 0 || !v.text.includes(`${p("typha.crt")}: OK`) || !v.text.includes(`${p("node.crt")}: OK`))
                throw new Error(`certs do not verify against the Typha CA: ${v.text.trim()}`);
            for (const [file, cn, use] of [
                ["typha.crt", "calico-typha", "Server"],
                ["node.crt", "calico-node", "Client"],
            ] as const) {
                const c = await certFacts(p(file));
                const who = file === "typha.crt" ? "Typha" : "node";
                if (!c.subject.includes(`CN=${cn}`)) throw new Error(`${who} cert subject ${c.subject}`);
                if (!c.eku.includes(`TLS Web ${use} Authentication`)) throw new Error(`${who} cert EKU: ${c.eku}`);
                ctx.ok(`${who} cert ${c.subject}, EKU ${c.eku.split("\n").pop()!.trim()}, verifies against the live Typha CA`);
            }
            const port = await freePort();
            let serverLog = "";
            const server = spawn(
                "timeout",
                ["60", "openssl", "s_server", "-accept", `127.0.0.1:${port}`, "-cert", p("typha.crt"), "-key", p("typha.key")].concat([
                    "-CAfile",
                    p("ca.crt"),
                    "-Verify",
                    "1",
                    "-verify_return_error",
                    "-www",
                ]),
                { stdio: ["pipe", "pipe", "pipe"] },
            );
            server.stdout.on("data", (b: Buffer) => (serverLog += b.toString()));
            server.stderr.on("data", (b: Buffer) => (serverLog += b.toString()));
            const closed = new Promise<void>((r) => server.on("close", () => r()));
            let withCert: { code: number; text: string };
            let without: { code: number; text: string };
            try {
                await waitFor(`openssl s_server on 127.0.0.1:${port}`, 10, () => tcpOpen(port), 200);
                const get = "GET / HTTP/1.0\r\n\r\n";
                const connect = ["s_client", "-connect", `127.0.0.1:${port}`];
                withCert = await openssl(
                    connect
                        .concat(["-cert", p("node.crt"), "-key", p("node.key"), "-CAfile", p("ca.crt"), "-verify_return_error"])
                        .concat(["-verify_hostname", "calico-typha", "-ign_eof"]),
                    get,
                );
                without = await openssl(connect.concat(["-CAfile", p("ca.crt"), "-ign_eof"]), get);
            } finally {
                server.kill();
                await Promise.race([closed, sleep(5000)]);
            }
            fs.writeFileSync(path.join(logs, "with-cert.log"), withCert.text);
            fs.writeFileSync(path.join(logs, "without-cert.log"), without.text);
            fs.writeFileSync(path.join(logs, "s_server.log"), serverLog);
            if (withCert.code !== 0 || !withCert.text.includes("Verify return code: 0 (ok)") || !withCert.text.includes("HTTP/1.0 200 ok"))
                throw new Error(
                    `mutual TLS handshake with the node cert failed (${logs}):\n${withCert.text.trim().split("\n").slice(-20).join("\n")}`,
                );
            const proto = /Protocol *: *TLS[^ \n]*|New, TLSv[^,]*/.exec(withCert.text)?.[0];
            ctx.ok(
                `mutual TLS: s_server (Typha cert, client cert required) on 127.0.0.1:${port} accepts s_client with the node cert (${proto})`,
            );
            if (without.text.includes("HTTP/1.0 200 ok")) throw new Error("a client without a certificate got a response");
            const refusal = /alert [a-z ]+|peer did not return a certificate/i.exec(`${without.text}\n${serverLog}`)?.[0];
            if (!refusal && !/certificate required|handshake failure/i.test(`${without.text}\n${serverLog}`))
                throw new Error(`no sign of the server refusing the certless client (${logs})`);
            ctx.ok(`a client without a certificate is refused (${refusal ?? "certificate required"})`);
        } finally {
            fs.rmSync(d, { recursive: true, force: true });
        }
    },
};

export const noChanges: Check = {
    name: "no-changes",
    title: "second up changes nothing; preview --expect-no-changes",
    run: async (ctx) => {
        const up = await ctx.stack.up("up-noop", { expectNoChanges: true });
        if (!up.ok) throw new Error(`second pulumi up changed something (${up.log}): ${up.error?.split("\n").slice(-10).join(" ")}`);
        ctx.figure("pulumi up, no changes (s)", up.seconds);
        ctx.ok(`second pulumi up --expect-no-changes (${up.seconds}s): ${up.changes.same ?? 0} unchanged`);
        const pv = await ctx.stack.preview("preview-noop", { expectNoChanges: true });
        if (!pv.ok) throw new Error(`pulumi preview --expect-no-changes failed (${pv.log}): ${pv.error?.split("\n").slice(-10).join(" ")}`);
        ctx.figure("pulumi preview, no changes (s)", pv.seconds);
        ctx.ok(`pulumi preview --expect-no-changes (${pv.seconds}s)`);
    },
};

/** Steps of component resources and reads: no provider operation, listed apart. */
const componentSteps = (steps: readonly auto.StepEventMetadata[]): auto.StepEventMetadata[] =>
    steps.filter((s) => s.op !== "same" && ((s.new ?? s.old)?.custom !== true || s.op === "read"));
const enablePool2 = (c: StackConfig) => c.item("pools", "ipv4-ippool-2").set("disabled", false);

export const enablePool: Check = {
    name: "enable-pool",
    title: "enable ipv4-ippool-2: exactly one update; live disabled=false",
    run: async (ctx) => {
        ctx.stack.editConfig(enablePool2);
        const pv = await ctx.stack.preview("preview-pool");
        if (!pv.ok) throw new Error(`preview failed (${pv.log}): ${pv.error}`);
        const steps = realChanges(pv.steps).map(stepText);
        const comp = componentSteps(pv.steps).map(stepText);
        fs.writeFileSync(
            path.join(ctx.logDir, "steps-pool.txt"),
            `${steps.join("\n")}\ncomponent or read (no provider change):\n${comp.join("\n")}\n`,
        );
        if (steps.length !== 1 || steps[0] !== "update ippool-ipv4-ippool-2 kubernetes:crd.projectcalico.org/v1:IPPool")
            throw new Error(
                `expected exactly one update (IPPool ipv4-ippool-2), got ${steps.length} steps on resources: ${steps.join(", ")}`,
            );
        const spec = (s?: auto.StepEventStateMetadata) => (s?.inputs as { spec?: { disabled?: unknown } } | undefined)?.spec?.disabled;
        const diff = pv.steps
            .filter((s) => s.urn.endsWith("::ippool-ipv4-ippool-2"))
            .map(
                (s) =>
                    `${Object.keys(s.detailedDiff ?? {})
                        .sort()
                        .join(",")}: ${spec(s.old)} => ${spec(s.new)}`,
            )
            .join("\n");
        if (diff !== "spec.disabled: true => false") throw new Error(`the IPPool update is not just disabled true => false: ${diff}`);
        ctx.ok(
            `preview: exactly one step, an update of IPPool ipv4-ippool-2 (${diff})${comp.length ? `; component or read (no provider change): ${comp.join(", ")}` : ""}`,
        );
        await ctx.stack.upOk("up-pool");
        const live = (await ctx.kube.mustGet(IPPOOL("ipv4-ippool-2"))) as { spec?: { disabled?: unknown } };
        if (live.spec?.disabled !== false) throw new Error(`live IPPool ipv4-ippool-2 spec.disabled='${live.spec?.disabled}'`);
        ctx.ok("after up, live IPPool ipv4-ippool-2 has disabled: false");
    },
};

export const sshFault: Check = {
    name: "ssh-fault",
    title: "fault: one node's sshd down + mtu change; named; converges",
    run: async (ctx) => {
        const mtu = 1400;
        const fault = faultNode(ctx);
        const others = ctx.nodes.filter((n) => n !== fault);
        const count = async () => (await ctx.stack.exportState()).deployment.resources?.length ?? 0;
        ctx.stack.editConfig((c) => c.set("cni", "mtu", mtu));
        const before = await count();
        await sshNodes("stop", fault);
        let r: OpResult;
        try {
            r = await ctx.stack.up("up-fault", { continueOnError: true });
        } finally {
            await sshNodes("start", fault);
        }
        if (r.ok) throw new Error(`up with ${fault}'s sshd stopped succeeded`);
        const text = `${r.output}\n${r.error ?? ""}`;
        if (!text.split("\n").some((l) => /error|failed/.test(l) && l.includes(fault)))
            throw new Error(`the failed up does not name ${fault} (${r.log})`);
        const named = new RegExp(`${fault}-[a-z-]+[^ ]*`).exec(text)?.[0];
        const cause = /connection refused|dial tcp [0-9.:]+/.exec(text)?.[0];
        ctx.ok(`up with ${fault}'s sshd stopped failed, naming it: ${named}  ${cause}`);
        for (const n of others) if (conflist(n).plugins?.[0]?.mtu !== mtu) throw new Error(`${n}'s conflist not updated to mtu ${mtu}`);
        if (conflist(fault).plugins?.[0]?.mtu !== 1500) throw new Error(`${fault}'s conflist changed while its sshd was down?`);
        ctx.ok(`the other nodes (${others.join(" ")}) got mtu ${mtu}; ${fault} kept 1500`);
        const rec = await ctx.stack.upOk("up-recover");
        ctx.ok(`after ssh-nodes.sh start ${fault}, up converged: ${changesText(rec.changes)}`);
        for (const n of ctx.nodes) nodeFilesOk(n, mtu);
        const after = await count();
        if (after !== before) throw new Error(`${before} resources before the fault, ${after} after`);
        const pv = await ctx.stack.preview("preview-fault", { expectNoChanges: true });
        if (!pv.ok) throw new Error(`not converged: preview shows changes (${pv.log})`);
        ctx.ok(`nothing lost: every node's files intact with mtu ${mtu}, ${after} resources as before, preview --expect-no-changes passes`);
    },
};

export const removeNode: Check = {
    name: "remove-node",
    title: "remove a node: only its resources deleted; its files gone; re-added",
    run: async (ctx) => {
        const gone = removedNode(ctx);
        // Drained first, as a user would before taking a node out of Calico: its pods' CNI DEL needs its files.
        for (const p of await ctx.kube.pods(PT_NS, undefined, `spec.nodeName=${gone}`).catch(() => []))
            await ctx.kube.deletePod(PT_NS, p.metadata!.name!, 60).catch(() => undefined);
        ctx.stack.editConfig((c) => c.removeItem("nodes", gone));
        const pv = await ctx.stack.preview("preview-node");
        if (!pv.ok) throw new Error(`preview failed (${pv.log}): ${pv.error}`);
        const steps = realChanges(pv.steps).map(stepText);
        fs.writeFileSync(path.join(ctx.logDir, "steps-node.txt"), `${steps.join("\n")}\n`);
        const dels = steps.filter((s) => s.startsWith("delete ")).length;
        const foreign = steps.filter(
            (s) => !s.startsWith(`delete ${gone}`) && /^(delete|replace|create-replacement|delete-replaced) /.test(s),
        );
        if (dels === 0) throw new Error("no deletes in the preview");
        if (foreign.length) throw new Error(`deletes or replacements of resources not named after ${gone}: ${foreign.join(", ")}`);
        const rest = steps.filter((s) => !s.startsWith("delete ")).map((s) => s.split(" ").slice(0, 2).join(" "));
        ctx.ok(`preview: ${dels} deletes, every one named ${gone}-* (or its CniHost ${gone}); other steps: ${rest.join(",") || "none"}`);
        await ctx.stack.upOk("up-node");
        const left = filesUnder(gone, ["opt/cni", "etc/cni"]);
        if (left.length) throw new Error(`files left on ${gone}: ${left.join(" ")}`);
        ctx.ok(`after up, ${gone}'s tree has no CNI files (opt/cni, etc/cni empty)`);
        for (const n of ctx.nodes) if (n !== gone) nodeFilesOk(n, 1400);
        ctx.ok("the remaining nodes keep all their files");
        // Back in config: the next up delivers its files again, and destroyAll cleans all three nodes.
        ctx.stack.resetConfig();
        ctx.stack.editConfig((c) => c.set("cni", "mtu", 1400));
        ctx.stack.editConfig(enablePool2);
        const r = await ctx.stack.upOk("up-readd");
        nodeFilesOk(gone, 1400);
        ctx.ok(`${gone} re-added to config: its files are delivered again (+ ${r.changes.create ?? 0} created)`);
    },
};

export const stateSecrets: Check = {
    name: "state-secrets",
    title: "stack export: no plaintext private key or kubeconfig",
    run: async (ctx) => {
        const text = JSON.stringify(await ctx.stack.exportState(), null, 1);
        const keys = (text.match(/BEGIN [A-Z ]*PRIVATE KEY/g) ?? []).length;
        const kc = (text.match(/client-key-data/g) ?? []).length;
        const secrets = (text.match(/"ciphertext"/g) ?? []).length;
        if (keys) throw new Error(`${keys} plaintext private keys in the state`);
        if (kc) throw new Error(`${kc} plaintext kubeconfig client keys in the state`);
        if (!secrets) throw new Error("no encrypted secrets in the state at all (were the keys left out?)");
        ctx.ok(
            `pulumi stack export (without --show-secrets): no 'BEGIN ... PRIVATE KEY', no client-key-data; ${secrets} values are encrypted secrets`,
        );
    },
};

/** The errors of a failed destroy's diagnostics, the stack's own summary error left out. */
function destroyErrors(output: string): string[] {
    const out: string[] = [];
    let inDiag = false;
    let head = "";
    for (const l of output.split("\n")) {
        if (/^Diagnostics:/.test(l)) inDiag = true;
        if (!inDiag) continue;
        if (/^ {2}[^ ]/.test(l)) head = l.trim();
        else if (/^ {4}error: /.test(l) && !head.includes("pulumi:pulumi:Stack")) out.push(`${head} ${l.trim()}`);
    }
    return out;
}

export const destroyAll: Check = {
    name: "destroy-all",
    title: "destroy removes every Calico object, host file and dataplane trace",
    run: async (ctx) => {
        const objects = ctx.shared.get("objects") as ObjectRef[] | undefined;
        if (!objects) throw new Error("no objects from the state (up-from-scratch did not record them)");
        // Workloads go before the network does: their CNI DEL needs the plugin's files and calico-node.
        await ctx.kube.deleteNamespace(PT_NS, 120).catch(() => undefined);
        const r = await ctx.stack.destroy("destroy");
        ctx.figure("pulumi destroy (s)", r.seconds);
        const problems: string[] = [];
        const fail = (what: string) => new Error([...problems, what].join("; "));
        if (r.ok) ctx.ok(`pulumi destroy (${r.seconds}s)`);
        else
            problems.push(
                `pulumi destroy failed (${r.seconds}s, ${r.log}): ${destroyErrors(r.output).join("; ") || r.error?.split("\n")[0]}`,
            );
        const left: string[] = [];
        for (const o of objects) {
            const still = await ctx.kube.get(o).catch((e: Error) => ({ error: e.message }));
            if (still) left.push(refText(o));
        }
        if (left.length) throw fail(`${left.length} Calico objects left in the API server: ${left.join(", ")}`);
        ctx.ok(`none of the ${objects.length} Calico objects is left in the API server`);
        for (const n of ctx.nodes) {
            const files = filesUnder(n, ["opt/cni", "etc/cni", "tmp", "var/tmp"]);
            if (files.length) throw fail(`files left on ${n}: ${files.join(" ")}`);
        }
        ctx.ok("no host file left in any node's tree (opt/cni, etc/cni, tmp)");
        const pods = await ctx.kube.pods(NS, "k8s-app in (calico-node,calico-typha,calico-kube-controllers)");
        if (pods.length) throw fail(`Calico pods left after destroy: ${pods.map((p) => p.metadata?.name).join(" ")}`);
        const traces = await calicoLeftovers(ctx.nodes);
        if (traces.length) throw fail(`Calico dataplane left behind after destroy: ${traces.join("; ")}`);
        ctx.ok(
            "no Calico process, interface (cali*, tunl0, vxlan.calico), route (proto bird/80, blackhole), iptables-legacy/nft rule, nft table or ipset left in any node's namespace",
        );
        if (problems.length) throw new Error(problems.join("; "));
        const n = (await ctx.stack.exportState()).deployment.resources?.length ?? 0;
        if (n !== 0) throw new Error(`the state still holds ${n} resources`);
    },
};
