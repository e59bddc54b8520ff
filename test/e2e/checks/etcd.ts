import type * as k8s from "@kubernetes/client-node";
import * as fs from "fs";
import * as path from "path";
import { NS, nodeIp, nodeTree, S, TOOLBIN } from "../lib/env";
import { calicoLeftovers } from "../lib/host";
import { podIp, PT_NS } from "../lib/kube";
import { pidAlive } from "../lib/machine";
import { run, sandboxScript, sleep, waitFor, type RunResult } from "../lib/proc";
import type { Check, Ctx } from "../lib/types";
import { ipIn } from "../../../verify/net";
import { destroyStack, pingCheck } from "./common";

/**
 * The etcd datastore style on real Calico: a second etcd of Calico's own (sandbox/calico-etcd.sh: TLS only,
 * client certificates of its own CA, on the bridge address in the sandbox's bridge namespace) and the
 * stack `sandbox-etcd` with `datastore: {type: etcd}` and its endpoint (styles.ts), the client CA,
 * certificate and key set as Pulumi secrets from the files (as Pulumi.etcd.yaml says).
 * Shared: "etcdUrl" (the etcd's client URL, set by `setup`; styles.ts's config edit reads it).
 */
const NET_NS = process.env.SANDBOX_NET_NS ?? "sbx-net";
const NODE_NET = process.env.SANDBOX_NODE_NET ?? "172.30.0";
const PORT = process.env.CALICO_ETCD_PORT ?? "23790";
const PEER_PORT = process.env.CALICO_ETCD_PEER_PORT ?? "23791";
/** calico-etcd.sh's files: ca.crt (its own CA) and calico.{crt,key} (Calico's client certificate). */
const PKI = path.join(S, "calico-etcd", "pki");
const CA = path.join(PKI, "ca.crt");
const CERT = path.join(PKI, "calico.crt");
const KEY = path.join(PKI, "calico.key");
const CERTS = ["--cacert", CA, "--cert", CERT, "--key", KEY];
const POOL1_CIDR = "10.244.0.0/18";
const ETCD_LOG = path.join(S, "logs", "calico-etcd.log");

const url = (ctx: Ctx): string => ctx.shared.get("etcdUrl") as string;
const addr = (ctx: Ctx): string => url(ctx).replace(/^https:\/\//, "");
/** `$(cat file)`: the text without its final newlines (`pulumi config set` drops it from a value on stdin). */
const chomp = (s: string): string => s.replace(/\n+$/, "");
const material = (f: string): string => chomp(fs.readFileSync(f, "utf8"));

/** Starts the etcd (fresh CA, certificates, empty data) and shares its URL. */
export async function setup(ctx: Ctx): Promise<void> {
    const out = await sandboxScript("calico-etcd.sh", ["start"], { timeoutS: 120 });
    fs.writeFileSync(path.join(ctx.logDir, "calico-etcd.log"), out);
    ctx.shared.set("etcdUrl", (await sandboxScript("calico-etcd.sh", ["endpoint"])).trim());
}
/** Stops the etcd and deletes its data and keys (idempotent). */
export async function cleanup(): Promise<void> {
    await sandboxScript("calico-etcd.sh", ["stop"], { timeoutS: 60 }).catch(() => undefined);
}

/** curl to the etcd from the bridge namespace (certificate options are the caller's). */
const ecurl = (args: string[]): Promise<RunResult> =>
    run("ip", ["netns", "exec", NET_NS, "curl", "-sS", "--max-time", "10", ...args], { timeoutS: 15 });
/** calicoctl against Calico's etcd, from the bridge namespace, with Calico's client certificate. */
function ectl(ctx: Ctx, args: string[]): Promise<RunResult> {
    const env = [
        `DATASTORE_TYPE=etcdv3`,
        `ETCD_ENDPOINTS=${url(ctx)}`,
        `ETCD_CA_CERT_FILE=${CA}`,
        `ETCD_CERT_FILE=${CERT}`,
        `ETCD_KEY_FILE=${KEY}`,
    ];
    return run("ip", ["netns", "exec", NET_NS, "env", ...env, path.join(TOOLBIN, "calicoctl"), ...args], { timeoutS: 30 });
}
/** calicoctl's `get -o json`: a list's items, or the one object. */
async function ectlItems<T>(ctx: Ctx, args: string[]): Promise<T[]> {
    const r = await ectl(ctx, [...args, "-o", "json"]);
    if (r.code !== 0) throw new Error(`calicoctl ${args.join(" ")}: ${r.stderr.trim().split("\n").slice(0, 2).join(" ")}`);
    const j = JSON.parse(r.stdout) as { items?: T[] };
    return j.items ?? [j as T];
}
/** How many keys etcd holds under `prefix` (its v3 gateway, read straight from etcd). */
async function ekeys(ctx: Ctx, prefix: string): Promise<number> {
    const p = Buffer.from(prefix);
    const end = Buffer.from(p);
    end[end.length - 1]!++;
    const body = JSON.stringify({ key: p.toString("base64"), range_end: end.toString("base64"), count_only: true });
    const r = await ecurl([...CERTS, `${url(ctx)}/v3/kv/range`, "-d", body]);
    if (r.code !== 0) throw new Error(`etcd range ${prefix}: ${r.stderr.trim()}`);
    return Number((JSON.parse(r.stdout) as { count?: string }).count ?? "0");
}
/** The node's namespace holds a TCP connection from `proc` (the kernel's 15-character name) to the etcd. */
async function connections(ctx: Ctx, node: string, proc: string): Promise<number> {
    const r = await run("ip", ["netns", "exec", node, "ss", "-Htnp", "state", "established", "dst", addr(ctx)]);
    return r.stdout.split("\n").filter((l) => l.includes(`(("${proc}"`)).length;
}

interface Pool {
    name: string;
    cidr: string;
    disabled?: boolean;
    ipipMode?: string;
    vxlanMode?: string;
    natOutgoing?: boolean;
}
const poolLine = (p: Pool): string =>
    `${p.name} ${p.cidr} disabled=${!!p.disabled} ipip=${p.ipipMode ?? null} vxlan=${p.vxlanMode ?? null} nat=${!!p.natOutgoing}`;
/** The configured pools (from the working copy), one line each, sorted. */
const configPools = (ctx: Ctx): string[] => (ctx.stack.config().get("pools") as Pool[]).map(poolLine).sort();
/** The pools in etcd, in the same form. */
const etcdPools = async (ctx: Ctx): Promise<string[]> =>
    (await ectlItems<{ metadata: { name: string }; spec: Omit<Pool, "name"> }>(ctx, ["get", "ippools"]))
        .map((p) => poolLine({ ...p.spec, name: p.metadata.name }))
        .sort();

/** The calicoctl-apply Job(s), by name. */
async function theJob(ctx: Ctx): Promise<string> {
    const jobs = await ctx.kube.objects.list<k8s.V1Job>("batch/v1", "Job", NS);
    return jobs.items
        .map((j) => j.metadata?.name ?? "")
        .filter((n) => n.startsWith("calicoctl-apply-"))
        .join(" ");
}
/** A container's log of the Job's pod, as sbx-kubelet wrote it on the node that ran it. */
async function jobLog(ctx: Ctx, job: string, container: string): Promise<string> {
    const pod = (await ctx.kube.pods(NS, `job-name=${job}`))[0]?.metadata?.name;
    if (!pod) return "";
    const root = path.join(S, "kubelet");
    return fs
        .readdirSync(root)
        .map((d) => path.join(root, d, "logs", `${NS}_${pod}_${container}.log`))
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, "utf8"))
        .join("");
}

export const tlsOnly: Check = {
    name: "tls-only-etcd",
    title: "the etcd answers Calico's client cert only: no cert, another CA's cert and plain http refused; listens only in the bridge namespace",
    run: async (ctx) => {
        const u = url(ctx);
        const h = (await ecurl([...CERTS, `${u}/health`])).stdout;
        const v = (JSON.parse((await ecurl([...CERTS, `${u}/version`])).stdout || "{}") as { etcdserver?: string }).etcdserver;
        const bad: string[] = [];
        const off = fs.readFileSync(ETCD_LOG, "utf8").split("\n").length - 1;
        const noCert = await ecurl(["--cacert", CA, `${u}/health`]);
        fs.writeFileSync(path.join(ctx.logDir, "no-cert.log"), noCert.stdout + noCert.stderr);
        if (noCert.code === 0) bad.push("answered a client without a certificate");
        const otherCa = await ecurl([
            "--cacert",
            CA,
            "--cert",
            path.join(S, "pki/admin.crt"),
            "--key",
            path.join(S, "pki/admin.key"),
            `${u}/health`,
        ]);
        fs.writeFileSync(path.join(ctx.logDir, "other-ca.log"), otherCa.stdout + otherCa.stderr);
        if (otherCa.code === 0) bad.push("answered the cluster CA's admin certificate");
        const plain = await ecurl([`http://${addr(ctx)}/health`]);
        if (`${plain.stdout}${plain.stderr}`.includes('"health":"true"')) bad.push("answered plain http");
        const ports = new RegExp(`:(${PORT}|${PEER_PORT})$`);
        const lst = (await run("ip", ["netns", "exec", NET_NS, "ss", "-Hltn"])).stdout
            .split("\n")
            .map((l) => l.trim().split(/\s+/)[3] ?? "")
            .filter((a) => ports.test(a))
            .sort()
            .join(" ");
        if (lst !== `${NODE_NET}.1:${PORT} ${NODE_NET}.1:${PEER_PORT}`) bad.push(`listens on '${lst}'`);
        const own = new RegExp(`:(${PORT}|${PEER_PORT})\\b`);
        if ((await run("ss", ["-Hltn"])).stdout.split("\n").some((l) => own.test(l)))
            bad.push("a listener on this machine's own namespace");
        await sleep(1000);
        const why = [
            ...new Set(
                fs
                    .readFileSync(ETCD_LOG, "utf8")
                    .split("\n")
                    .slice(off)
                    .flatMap((l) => {
                        try {
                            const j = JSON.parse(l) as { msg?: string; error?: string };
                            return j.msg === "rejected connection on client endpoint" && j.error ? [j.error] : [];
                        } catch {
                            return [];
                        }
                    }),
            ),
        ].sort();
        for (const w of [
            "client didn't provide a certificate",
            "certificate signed by unknown authority",
            "does not look like a TLS handshake",
        ])
            if (!why.some((x) => x.includes(w))) bad.push(`etcd did not log a refusal '${w}'`);
        if (!h.includes('"health":"true"') || bad.length) throw new Error(`health '${h}'; ${bad.join("; ")}`);
        ctx.ok(
            `etcd ${v} at ${u} (client and peer TLS, own CA): healthy with Calico's client cert; refused (etcd's log) with no cert, ` +
                `with the cluster CA's admin cert, over plain http: ${why.join(";").slice(0, 200)}; listens only in ${NET_NS} (${lst})`,
        );
    },
};

export const secrets: Check = {
    name: "secrets",
    title: "calico:etcdCaCert, etcdCert, etcdKey set as secrets from the files: only secure values in the working copy",
    gate: true,
    run: async (ctx) => {
        // Each value on stdin, never on a command line.
        await ctx.stack.setSecret("etcdCaCert", fs.readFileSync(CA, "utf8"));
        await ctx.stack.setSecret("etcdCert", fs.readFileSync(CERT, "utf8"));
        await ctx.stack.setSecret("etcdKey", fs.readFileSync(KEY, "utf8"));
        const text = fs.readFileSync(ctx.stack.configFile, "utf8");
        const lines = text.split("\n");
        const keys = lines.filter((l) => /^ +calico:etcd(CaCert|Cert|Key):$/.test(l)).length;
        const secure = lines.filter((l) => /^ *secure: /.test(l)).length;
        if (/BEGIN|PRIVATE/.test(text) || keys !== 3 || secure < 3) {
            const shown = lines
                .map((l, i) => `${i + 1}:${l}`)
                .filter((l) => /etcd|BEGIN/.test(l))
                .slice(0, 5);
            throw new Error(`the working copy does not hold the three etcd keys as secure values only: ${shown.join(" ")}`);
        }
        ctx.ok(
            "calico:etcdCaCert, etcdCert, etcdKey set with `pulumi config set --secret ... < file`: encrypted in the stack file, no PEM in it",
        );
    },
};

export const up: Check = {
    name: "up",
    title: "pulumi up on the etcd datastore; calico-node and kube-controllers rolled out",
    gate: true,
    run: async (ctx) => {
        const t0 = Date.now();
        await ctx.stack.upOk("up");
        await ctx.kube.rollout("DaemonSet", "calico-node", 300);
        await ctx.kube.rollout("Deployment", "calico-kube-controllers", 180);
        ctx.ok(
            `pulumi up of ${ctx.stack.name} (etcd at ${url(ctx)}) in ${Math.round((Date.now() - t0) / 1000)} s; calico-node and kube-controllers rolled out`,
        );
    },
};

export const state: Check = {
    name: "state",
    title: "the exported state holds no plaintext private key",
    run: async (ctx) => {
        if (/BEGIN (RSA |EC )?PRIVATE KEY/.test(JSON.stringify(await ctx.stack.exportState())))
            throw new Error("the state holds a plaintext private key");
        ctx.ok("stack export (no --show-secrets): no plaintext private key");
    },
};

export const etcdObjects: Check = {
    name: "etcd-objects",
    title: "no CRD, no Typha; calico-config, calico-etcd-secrets, the env and every node's conflist and TLS files carry the etcd",
    run: async (ctx) => {
        const u = url(ctx);
        const bad: string[] = [];
        const crds = (await ctx.kube.objects.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")).items.filter((c) =>
            c.metadata?.name?.includes("projectcalico.org"),
        ).length;
        if (crds !== 0) bad.push(`${crds} Calico CRDs in the API server`);
        if (await ctx.kube.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: "calico-typha" }))
            bad.push("a Typha Deployment");
        const cm = await ctx.kube.configMapKey(NS, "calico-config", "etcd_endpoints");
        if (cm !== u) bad.push(`calico-config etcd_endpoints '${cm}'`);
        const files = { "etcd-ca": CA, "etcd-cert": CERT, "etcd-key": KEY };
        for (const [k, f] of Object.entries(files))
            if (chomp((await ctx.kube.secretKey(NS, "calico-etcd-secrets", k)) ?? "") !== material(f))
                bad.push(`calico-etcd-secrets ${k} is not ${f}`);
        const ds = await ctx.kube.apps.readNamespacedDaemonSet({ namespace: NS, name: "calico-node" });
        const kc = await ctx.kube.apps.readNamespacedDeployment({ namespace: NS, name: "calico-kube-controllers" });
        for (const [what, spec] of [
            ["ds/calico-node", ds.spec?.template.spec],
            ["deploy/calico-kube-controllers", kc.spec?.template.spec],
        ] as const) {
            const envs = (spec?.containers[0]?.env ?? [])
                .filter((e) => e.name === "ETCD_ENDPOINTS")
                .map((e) => `${e.name}=${e.value ?? `${e.valueFrom?.configMapKeyRef?.name}/${e.valueFrom?.configMapKeyRef?.key}`}`)
                .join("\n");
            if (envs !== "ETCD_ENDPOINTS=calico-config/etcd_endpoints") bad.push(`${what} ETCD_ENDPOINTS '${envs}'`);
        }
        if (ds.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === "DATASTORE_TYPE")?.value !== "etcdv3")
            bad.push("calico-node DATASTORE_TYPE is not etcdv3");
        const want = `etcdv3 ${u} /etc/cni/net.d/calico-tls/etcd-ca /etc/cni/net.d/calico-tls/etcd-cert /etc/cni/net.d/calico-tls/etcd-key`;
        for (const n of ctx.nodes) {
            const t = path.join(nodeTree(n), "etc/cni/net.d");
            for (const [k, f] of Object.entries(files)) {
                const p = path.join(t, "calico-tls", k);
                const okFile = fs.existsSync(p) && (fs.statSync(p).mode & 0o777) === 0o600 && material(p) === material(f);
                if (!okFile) bad.push(`${n}: /etc/cni/net.d/calico-tls/${k} missing, not 0600 or not the material`);
            }
            let got = "";
            try {
                const c = JSON.parse(fs.readFileSync(path.join(t, "10-calico.conflist"), "utf8")) as { plugins: Record<string, unknown>[] };
                const p = c.plugins.find((x) => x.type === "calico") ?? {};
                got = ["datastore_type", "etcd_endpoints", "etcd_ca_cert_file", "etcd_cert_file", "etcd_key_file"]
                    .map((k) => String(p[k] ?? null))
                    .join(" ");
            } catch (e) {
                got = (e as Error).message;
            }
            if (got !== want) bad.push(`${n}: conflist has '${got}'`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `no Calico CRD, no Typha; calico-config etcd_endpoints ${u}; calico-etcd-secrets = the CA, cert and key; calico-node and ` +
                `kube-controllers take ETCD_ENDPOINTS from calico-config, DATASTORE_TYPE etcdv3; every node: conflist etcdv3 with that ` +
                `endpoint and calico-tls/etcd-{ca,cert,key} 0600, the same bytes`,
        );
    },
};

export const calicoctlJob: Check = {
    name: "calicoctl-job",
    title: "the calicoctl-apply Job succeeded and its apply container applied every document",
    run: async (ctx) => {
        const job = await theJob(ctx);
        const res = (await ctx.kube.configMapKey(NS, "calico-resources", "resources.yaml")) ?? "";
        const ndocs = res.split("\n").filter((l) => l.startsWith("kind: ")).length;
        const log = await jobLog(ctx, job, "apply");
        const j =
            job.startsWith("calicoctl-apply-") && !job.includes(" ")
                ? await ctx.kube.get({ apiVersion: "batch/v1", kind: "Job", namespace: NS, name: job })
                : undefined;
        const status = (j?.status ?? {}) as k8s.V1JobStatus;
        const applied = new RegExp(`Successfully applied ${ndocs}( '[A-Za-z]+')? resource`);
        if (status.succeeded !== 1 || !applied.test(log))
            throw new Error(
                `job '${job}' status '${JSON.stringify(status).slice(0, 200)}'; apply log: ${log.trim().split("\n").slice(-3).join(" ").slice(0, 300)}`,
            );
        ctx.ok(`${job} succeeded; its apply container (calico/ctl image root) logged: ${/Successfully applied.*/.exec(log)![0]}`);
    },
};

export const poolsInEtcd: Check = {
    name: "pools-in-etcd",
    title: "calicoctl get ippools against the TLS etcd = calico:pools; no default pool",
    run: async (ctx) => {
        const want = configPools(ctx);
        let got: string[] = [];
        let err = "";
        try {
            got = await etcdPools(ctx);
        } catch (e) {
            err = (e as Error).message;
        }
        if (!want.length || got.join(";") !== want.join(";"))
            throw new Error(`etcd has '${got.join(" ")}', config '${want.join(" ")}' ${err}`);
        ctx.ok(`${got.join(";")} (calicoctl get ippools against the TLS etcd = calico:pools; no default pool)`);
    },
};

export const calicoNodeOnEtcd: Check = {
    name: "calico-node-on-etcd",
    title: "every calico-node connected to the etcd; its Calico Nodes in etcd with their addresses",
    run: async (ctx) => {
        const bad: string[] = [];
        const conns: string[] = [];
        const enodes = (
            await ectlItems<{ metadata: { name: string }; spec?: { bgp?: { ipv4Address?: string } } }>(ctx, ["get", "nodes"]).catch(
                () => [],
            )
        )
            .map((n) => `${n.metadata.name}=${n.spec?.bgp?.ipv4Address ?? null}`)
            .sort()
            .join(" ");
        const want = ctx.nodes
            .map((n) => `${n}=${nodeIp(n)}/24`)
            .sort()
            .join(" ");
        if (enodes !== want) bad.push(`Calico Nodes in etcd '${enodes}', want '${want}'`);
        for (const n of ctx.nodes) {
            const ok = await waitFor(`calico-node on ${n} connected`, 30, async () => (await connections(ctx, n, "calico-node")) > 0).catch(
                () => false,
            );
            if (!ok) bad.push(`${n}: no connection from calico-node to ${addr(ctx)}`);
            conns.push(`${n}: ${await connections(ctx, n, "calico-node")} calico-node`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`every calico-node Ready and connected to ${addr(ctx)} (${conns.join("; ")}); its Calico Nodes in etcd: ${enodes}`);
    },
};

export const ping: Check = pingCheck("etcd: fresh pods on every node ping each other across nodes, 0% loss");

export const kubeControllersOnEtcd: Check = {
    name: "kube-controllers-on-etcd",
    title: "kube-controllers connected to the etcd; its namespace controller wrote the pingtest profile there",
    run: async (ctx) => {
        const bad: string[] = [];
        const kcnode = (await ctx.kube.pods(NS, "k8s-app=calico-kube-controllers"))[0]?.spec?.nodeName ?? "";
        // ss shows the command name, which the kernel cuts to 15 characters.
        const kc =
            kcnode &&
            (await waitFor("kube-controllers connected", 30, async () => (await connections(ctx, kcnode, "kube-controller")) > 0).catch(
                () => false,
            ));
        if (!kc) bad.push(`no connection from kube-controllers on ${kcnode} to ${addr(ctx)}`);
        const prof = await waitFor(`profile kns.${PT_NS}`, 60, async () => {
            const r = await ectl(ctx, ["get", "profile", `kns.${PT_NS}`, "-o", "json"]);
            return r.code === 0 ? (JSON.parse(r.stdout) as { metadata: { name: string } }).metadata.name : undefined;
        }).catch(() => "");
        if (prof !== `kns.${PT_NS}`) bad.push(`no profile kns.${PT_NS} in etcd (kube-controllers' namespace controller)`);
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`Ready on ${kcnode}, connected to ${addr(ctx)}; its namespace controller wrote profile kns.${PT_NS} to etcd`);
    },
};

/** The pingtest pods' addresses, by node (read again: the ping check made them). */
async function podIpsByNode(ctx: Ctx): Promise<Map<string, string>> {
    return new Map(
        await Promise.all(ctx.nodes.map(async (n) => [n, podIp(await ctx.kube.pod(PT_NS, `pingtest-${n}`))] as [string, string])),
    );
}

export const cniOnEtcd: Check = {
    name: "cni-on-etcd",
    title: "every pod's workload endpoint and IPAM handle in etcd (the CNI plugin's, through the host files)",
    run: async (ctx) => {
        const bad: string[] = [];
        const seen: string[] = [];
        const weps = (
            await ectlItems<{ spec: { pod: string; node: string; ipNetworks?: string[] } }>(ctx, [
                "get",
                "workloadendpoints",
                "-n",
                PT_NS,
            ]).catch(() => [])
        ).map((w) => `${w.spec.pod} ${w.spec.node} ${(w.spec.ipNetworks ?? []).join(",")}`);
        const ips = await podIpsByNode(ctx);
        for (const n of ctx.nodes) {
            const ip = ips.get(n)!;
            if (!weps.includes(`pingtest-${n} ${n} ${ip}/32`)) bad.push(`pingtest-${n}: no workload endpoint '${n} ${ip}/32' in etcd`);
            if (!ipIn(ip, POOL1_CIDR)) bad.push(`pingtest-${n}: ${ip} not in ${POOL1_CIDR}`);
            seen.push(`pingtest-${n}@${n}=${ip}`);
        }
        const nwep = await ekeys(ctx, `/calico/resources/v3/projectcalico.org/workloadendpoints/${PT_NS}/`);
        const nh = await ekeys(ctx, "/calico/ipam/v2/handle/k8s-pod-network.");
        if (nwep !== ctx.nodes.length) bad.push(`${nwep} workload endpoint keys in etcd`);
        if (!(nh >= ctx.nodes.length)) bad.push(`${nh} pod IPAM handles in etcd`);
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `every pod's workload endpoint in etcd with its node and address (${seen.join(" ")}); etcd keys: ${nwep} workload endpoints, ${nh} k8s-pod-network IPAM handles`,
        );
    },
};

export const routes: Check = {
    name: "routes",
    title: "Felix routes each local pod to its cali* interface; BIRD routes every remote block via its node",
    run: async (ctx) => {
        const bad: string[] = [];
        const seen: string[] = [];
        const ips = await podIpsByNode(ctx);
        for (const a of ctx.nodes) {
            const ip = ips.get(a)!;
            const dev = /\bdev (\S+)/.exec((await run("ip", ["-n", a, "route", "get", ip])).stdout)?.[1] ?? "";
            if (!dev.startsWith("cali")) bad.push(`${a}: own pod ${ip} via '${dev}'`);
            const birdRoutes = (await run("ip", ["-n", a, "route", "show", "proto", "bird"])).stdout.split("\n");
            for (const b of ctx.nodes) {
                if (a === b) continue;
                const blocks = birdRoutes.filter((l) => l.includes(`via ${nodeIp(b)} `)).map((l) => l.split(/\s+/)[0]!);
                if (!blocks.some((blk) => ipIn(ips.get(b)!, blk)))
                    bad.push(`${a}: no BIRD route to pingtest-${b}'s block via ${nodeIp(b)} ('${blocks.join(" ")}')`);
            }
            seen.push(`${a}: ${ip} dev ${dev}`);
        }
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(`Felix routes each local pod to its cali* interface (${seen.join("; ")}); BIRD routes every remote block via its node`);
    },
};

export const poolRemoved: Check = {
    name: "pool-removed",
    title: "a pool removed from config is deleted from etcd by the next up's Job; the next preview is quiet",
    run: async (ctx) => {
        const oldJob = await theJob(ctx);
        ctx.stack.editConfig((c) => c.removeItem("pools", "ipv4-ippool-2"));
        await ctx.stack.upOk("up-remove");
        const job = await theJob(ctx);
        const bad: string[] = [];
        const j = await ctx.kube.get({ apiVersion: "batch/v1", kind: "Job", namespace: NS, name: job });
        const pod = (j as unknown as k8s.V1Job | undefined)?.spec?.template.spec;
        const steps = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]
            .map((c) => `${c.name}:${(c.command ?? []).slice(1, 3).join(" ")}`)
            .join(", ");
        const log = await jobLog(ctx, job, "prune-ippools");
        const got = await etcdPools(ctx);
        const want = configPools(ctx);
        const rec = JSON.stringify(((await ctx.stack.outputs()).calicoctlApplied?.value as { ipPools?: unknown } | undefined)?.ipPools);
        if (job === oldJob || job.includes(" ")) bad.push(`Jobs '${job}' (before: ${oldJob})`);
        if (steps !== "apply:apply -f, prune-ippools:delete ippool") bad.push(`steps '${steps}'`);
        if (!log.includes("Successfully deleted"))
            bad.push(`prune-ippools log: ${log.trim().split("\n").slice(-2).join(" ").slice(0, 200)}`);
        if (got.join(";") !== want.join(";") || !got.join("\n").startsWith("ipv4-ippool-1 "))
            bad.push(`etcd has '${got.join(" ")}', config '${want.join(" ")}'`);
        if (rec !== '["ipv4-ippool-1","ipv4-ippool-2"]') bad.push(`calicoctlApplied.ipPools '${rec}'`);
        const pv = await ctx.stack.preview("preview-remove", { expectNoChanges: true });
        if (!pv.ok) bad.push(`the next preview is not quiet (see ${pv.log})`);
        if (bad.length) throw new Error(bad.join("; "));
        ctx.ok(
            `ipv4-ippool-2 out of config: new Job ${job} (steps: ${steps}) logged '${/Successfully deleted.*/.exec(log)![0]}'; ` +
                `etcd now: ${got.join(" ")}; record ${rec}; next preview quiet`,
        );
    },
};

const PART_OF = "app.kubernetes.io/part-of=calico";
const LEFT_KINDS: [string, string][] = [
    ["apps/v1", "Deployment"],
    ["apps/v1", "DaemonSet"],
    ["v1", "ConfigMap"],
    ["v1", "Secret"],
    ["batch/v1", "Job"],
    ["v1", "ServiceAccount"],
    ["rbac.authorization.k8s.io/v1", "ClusterRole"],
    ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
];

export const destroy: Check = {
    name: "destroy",
    title: "the pods' CNI DEL removed their endpoints from etcd; destroy leaves no Calico object, process, interface, route, rule or ipset",
    run: async (ctx) => {
        await destroyStack(ctx);
        const nwep = await ekeys(ctx, `/calico/resources/v3/projectcalico.org/workloadendpoints/${PT_NS}/`);
        const left: string[] = [];
        for (const [apiVersion, kind] of LEFT_KINDS) {
            const l = await ctx.kube.objects.list(apiVersion, kind, undefined, undefined, undefined, undefined, undefined, PART_OF);
            left.push(...l.items.map((o) => `${kind}/${o.metadata?.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata?.name}`));
        }
        const out = await calicoLeftovers(ctx.nodes);
        if (out.length || left.length || nwep !== 0)
            throw new Error(`${out.join("; ")} objects left: '${left.join(" ")}'; workload endpoints left in etcd: ${nwep}`);
        ctx.ok(
            "the pods' CNI DEL removed their workload endpoints from etcd (0 left); no Calico object in the API server; " +
                "no Calico process, interface, route, iptables rule, nft table or ipset in any node",
        );
    },
};

export const etcdStopped: Check = {
    name: "etcd-stopped",
    title: "the etcd stopped: nothing listens on its ports, its data and keys deleted",
    run: async (ctx) => {
        fs.appendFileSync(path.join(ctx.logDir, "calico-etcd.log"), await sandboxScript("calico-etcd.sh", ["stop"], { timeoutS: 60 }));
        const ports = new RegExp(`:(${PORT}|${PEER_PORT})\\b`);
        const listens = (await run("ip", ["netns", "exec", NET_NS, "ss", "-Hltn"])).stdout.split("\n").some((l) => ports.test(l));
        if (pidAlive("calico-etcd") || listens || fs.existsSync(path.join(S, "calico-etcd")))
            throw new Error(`calico-etcd still runs or listens, or ${path.join(S, "calico-etcd")} remains`);
        ctx.ok(`calico-etcd stopped, nothing listens on ${PORT}/${PEER_PORT}, its data and keys deleted`);
    },
};

export const checks: Check[] = [
    tlsOnly,
    secrets,
    up,
    state,
    etcdObjects,
    calicoctlJob,
    poolsInEtcd,
    calicoNodeOnEtcd,
    ping,
    kubeControllersOnEtcd,
    cniOnEtcd,
    routes,
    poolRemoved,
    destroy,
    etcdStopped,
];
