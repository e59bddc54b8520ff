import type * as k8s from "@kubernetes/client-node";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ipIn } from "../../../verify/net";
import { NS, nodeTree, S } from "../lib/env";
import { birdc, fmtPing, inNetns, inProcess, netnsExists, pingFrom, procInNetns } from "../lib/host";
import { pingtestPod, podIp, podNetns, PT_NS } from "../lib/kube";
import { runOk, secondsSince, sleep, waitFor } from "../lib/proc";
import type { Check, Ctx } from "../lib/types";

/**
 * Real Calico from the objects `pulumi up` applied: calico-node, Typha and kube-controllers run as
 * processes (sbx-kubelet), and pods get their network from a real CNI ADD through each node's delivered
 * binaries, conflist and kubeconfig. Every packet stays between the sandbox's own namespaces.
 */

/** A pool's CIDR from the stack's working copy. */
function poolCidr(ctx: Ctx, name: string): string {
    const pools = (ctx.stack.config().get("pools") ?? []) as { name: string; cidr: string }[];
    const p = pools.find((x) => x.name === name);
    if (!p) throw new Error(`no pool ${name} in the stack config`);
    return p.cidr;
}
const isReady = (p: k8s.V1Pod): boolean => !!p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
const shellWords = (argv: readonly string[]): string => argv.map((a) => `'${a}'`).join(" ");

/** Lines of Typha's log (sbx-kubelet keeps each container's log under $S/kubelet/<node>/logs/) matching `re`. */
function logLines(file: string, re: RegExp): string[] {
    try {
        return fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => re.test(l));
    } catch {
        return [];
    }
}

/** `openssl s_client` from a node's namespace whose stdin stays open `holdMs` (so Typha reads after the handshake). */
function sClient(node: string, args: readonly string[], holdMs: number, timeoutS: number): Promise<string> {
    return new Promise((resolve) => {
        const child = spawn("timeout", [String(timeoutS), "ip", "netns", "exec", node, "openssl", "s_client", ...args], {
            stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (b: Buffer) => (out += b.toString()));
        child.stderr.on("data", (b: Buffer) => (out += b.toString()));
        child.stdin.on("error", () => undefined);
        const t = setTimeout(() => child.stdin.end("hello\n"), holdMs);
        child.on("close", () => {
            clearTimeout(t);
            resolve(out);
        });
    });
}

export const calicoNodeReady: Check = {
    name: "calico-node-ready",
    title: "real calico-node Ready by its probe; every Felix on Typha over TLS; wrong-CN client refused",
    run: async (ctx) => {
        const ds = await ctx.kube.apps.readNamespacedDaemonSet({ namespace: NS, name: "calico-node" });
        const c0 = ds.spec?.template.spec?.containers[0];
        const probe = c0?.readinessProbe?.exec?.command;
        const live = c0?.livenessProbe?.exec?.command;
        if (!probe?.length || !live?.length) throw new Error("calico-node has no exec readiness or liveness probe");
        for (const n of ctx.nodes) {
            const pod = (await ctx.kube.pods(NS, "k8s-app=calico-node", `spec.nodeName=${n}`))[0];
            if (!pod) throw new Error(`no calico-node pod on ${n}`);
            const name = pod.metadata!.name!;
            const cid = pod.status?.containerStatuses?.[0]?.containerID ?? "";
            if (!cid.startsWith("sbx://") || !isReady(pod))
                throw new Error(`${n}: calico-node ${name} not Ready from sbx-kubelet (${cid} ready=${isReady(pod)})`);
            const felix = await procInNetns(n, /^calico-node -felix/);
            if (!felix) throw new Error(`${n}: no Felix process in the node's namespace`);
            for (const [what, argv] of [
                ["liveness", live],
                ["readiness", probe],
            ] as const) {
                const r = await inProcess(felix.pid, argv);
                if (r.code !== 0)
                    throw new Error(
                        `${n}: the ${what} probe (${argv.join(" ")}) fails inside calico-node: ${(r.stdout + r.stderr).trim()}`,
                    );
            }
            const bird = (await procInNetns(n, /^bird -R -s \/var\/run\/calico\/bird.ctl/)) ? ", BIRD running" : "";
            ctx.ok(
                `${n}: ${name} Ready; its probes pass inside the container (${shellWords(live)}; ${shellWords(probe)}), Felix pid ${felix.pid}${bird}`,
            );
        }
        // Felix picks one of the Typha replicas: each node must hold an established connection to one of
        // them, and that Typha's log must show it accepted.
        const typhas: { pod: string; ip: string; log: string }[] = [];
        for (const t of await ctx.kube.pods(NS, "k8s-app=calico-typha")) {
            const node = t.spec?.nodeName ?? "";
            const pod = t.metadata!.name!;
            typhas.push({
                pod,
                ip: await ctx.kube.nodeAddress(node),
                log: path.join(S, "kubelet", node, "logs", `${NS}_${pod}_calico-typha.log`),
            });
        }
        if (typhas.length === 0) throw new Error("no Typha pod");
        const summary: string[] = [];
        for (const n of ctx.nodes) {
            const src = await ctx.kube.nodeAddress(n);
            const t = await waitFor(
                `an established connection from ${n}'s Felix to a Typha (${typhas.map((x) => x.ip).join(" ")}:5473)`,
                60,
                async () => {
                    for (const x of typhas) {
                        const r = await inNetns(n, "ss", ["-Htn", "state", "established", "dst", `${x.ip}:5473`]);
                        if (r.stdout.trim()) return x;
                    }
                    return undefined;
                },
            );
            if (logLines(t.log, new RegExp(`Accepted from ${src.replace(/\./g, "\\.")}:`)).length === 0)
                throw new Error(`Typha ${t.pod}'s log (${t.log}) has no connection from ${n} (${src})`);
            summary.push(`${n} -> ${t.pod} (${t.ip})`);
        }
        const verifies = logLines(typhas[0]!.log, /Will verify client certificates/).length > 0;
        if (!verifies) throw new Error(`Typha ${typhas[0]!.pod}'s log does not say it verifies client certificates`);
        ctx.ok(
            `every Felix holds a TLS connection to a Typha: ${summary.join(", ")}; Typha requires client certs: Will verify client certificates`,
        );

        // An impostor: right CA, wrong CN. Typha must refuse it after the handshake. The CA key comes from the
        // state and lives only in a private temp dir, deleted after.
        const { ip: tip, log } = typhas[0]!;
        const d = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-impostor-"));
        fs.chmodSync(d, 0o700);
        try {
            const p = (f: string) => path.join(d, f);
            const state = await ctx.stack.exportState(true);
            const key = (state.deployment.resources ?? []).find(
                (r) => r.type === "tls:index/privateKey:PrivateKey" && r.urn.endsWith("::pki-typha-ca-key"),
            )?.outputs?.privateKeyPem as string | { plaintext: string } | undefined;
            const pem = typeof key === "object" ? (JSON.parse(key.plaintext) as string) : key;
            if (!pem?.includes("PRIVATE KEY")) throw new Error("could not read the Typha CA key from the state");
            fs.writeFileSync(p("ca.key"), pem, { mode: 0o600 });
            const ca = await ctx.kube.configMapKey(NS, "calico-typha-ca", "typhaca.crt");
            if (!ca) throw new Error("no typhaca.crt in ConfigMap calico-typha-ca");
            fs.writeFileSync(p("ca.crt"), ca);
            await runOk("openssl", [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                p("impostor.key"),
                "-out",
                p("impostor.csr"),
                "-subj",
                "/CN=calico-node-impostor",
            ]);
            fs.writeFileSync(p("ext"), "extendedKeyUsage=clientAuth\n");
            await runOk(
                "openssl",
                ["x509", "-req", "-in", p("impostor.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial"].concat([
                    "-days",
                    "1",
                    "-extfile",
                    p("ext"),
                    "-out",
                    p("impostor.crt"),
                ]),
            );
            fs.rmSync(p("ca.key"));
            const refused = /does not have required CN/;
            const before = logLines(log, refused).length;
            const out = await sClient(
                ctx.nodes[0]!,
                ["-connect", `${tip}:5473`, "-cert", p("impostor.crt"), "-key", p("impostor.key"), "-CAfile", p("ca.crt")],
                3000,
                15,
            );
            fs.writeFileSync(path.join(ctx.logDir, "impostor-s_client.log"), out);
            await sleep(1000);
            const lines = logLines(log, refused);
            if (lines.length <= before)
                throw new Error(
                    `Typha did not refuse a client certificate with CN calico-node-impostor: ${out.trim().split("\n").slice(-5).join(" | ")}`,
                );
            const why = /error="[^"]*"|peer certificate does not have required CN/.exec(lines[lines.length - 1]!)?.[0];
            ctx.ok(`Typha refused a client cert signed by its CA with CN calico-node-impostor: ${why}`);
        } finally {
            fs.rmSync(d, { recursive: true, force: true });
        }
    },
};

export const bgpMesh: Check = {
    name: "bgp-mesh",
    title: "BGP: every BIRD Established with every other node (full mesh)",
    run: async (ctx) => {
        const want = ctx.nodes.length - 1;
        for (const n of ctx.nodes) {
            const sock = path.join(nodeTree(n), "var/run/calico/bird.ctl");
            const established = async () =>
                (await birdc(sock, ["show", "protocols"])).stdout.split("\n").filter((l) => l.includes("Established"));
            await waitFor(`${n}: BIRD with ${want} Established sessions`, 90, async () => (await established()).length >= want, 2000).catch(
                async (e: Error) => {
                    throw new Error(
                        `${n}: BIRD has fewer than ${want} Established sessions (${e.message}):\n${(await birdc(sock, ["show", "protocols"])).stdout}`,
                    );
                },
            );
            ctx.ok(`${n}: BIRD sessions Established: ${(await established()).map((l) => l.split(/\s+/)[0]).join(",")}`);
        }
    },
};

/** Pings `count` times from `netns` until `done` holds, at most `tries` rounds; the seconds it took, or undefined. */
async function pingUntil(
    netns: string,
    dest: string,
    done: (r: { received: number; loss: string }) => boolean,
    tries = 30,
): Promise<number | undefined> {
    const t0 = Date.now();
    for (let i = 0; i < tries; i++) if (done(await pingFrom(netns, dest, 3))) return secondsSince(t0);
    return undefined;
}

export const podNetwork: Check = {
    name: "pod-network",
    title: "pods: pool-1 addresses, cross-node and node-to-pod ping, route, MTU, NetworkPolicy, IPAM release",
    run: async (ctx) => {
        const pool1 = poolCidr(ctx, "ipv4-ippool-1");
        const k = ctx.kube;
        await k.ensureNamespace(PT_NS);
        for (const n of ctx.nodes) await k.apply(pingtestPod(`pingtest-${n}`, n));
        const list = await k.podsReady(
            PT_NS,
            ctx.nodes.map((n) => `pingtest-${n}`),
            120,
        );
        const pods = new Map(ctx.nodes.map((n, i) => [n, list[i]!]));
        const ip = (n: string) => podIp(pods.get(n)!);
        const ns = (n: string) => podNetns(pods.get(n)!);
        for (const n of ctx.nodes) if (!ipIn(ip(n), pool1)) throw new Error(`pingtest-${n} got ${ip(n)}, outside ipv4-ippool-1 ${pool1}`);
        ctx.ok(`pods: ${ctx.nodes.map((n) => `pingtest-${n}=${ip(n)}`).join(" ")} (all in ipv4-ippool-1 ${pool1})`);
        const pairs: string[] = [];
        for (const a of ctx.nodes)
            for (const b of ctx.nodes) {
                if (a === b) continue;
                const r = await pingFrom(ns(a), ip(b));
                if (r.loss !== "0%") throw new Error(`pingtest-${a} -> pingtest-${b} (${ip(b)}): sent received loss = ${fmtPing(r)}`);
                pairs.push(`pingtest-${a} -> pingtest-${b} ${ip(b)}: ${fmtPing(r)}`);
            }
        ctx.ok(`every pod pings every pod on the other nodes with 0% loss (sent/received/loss: ${pairs.join("; ")})`);

        const [a0, b1] = [ctx.nodes[0]!, ctx.nodes[1]!];
        const r = await pingFrom(a0, ip(b1));
        if (r.loss !== "0%") throw new Error(`node ${a0} -> pingtest-${b1}: ${fmtPing(r)}`);
        const route = (await runOk("ip", ["-n", a0, "route", "get", ip(b1)])).trim();
        const via = await k.nodeAddress(b1);
        if (!route.includes(`via ${via} `)) throw new Error(`on ${a0}, ip route get ${ip(b1)}: '${route}', want via ${via} (${b1})`);
        ctx.ok(
            `node ${a0} pings pingtest-${b1} (${fmtPing(r)}); ip route get ${ip(b1)}: ${route.split("\n")[0]!.replace(/\s+/g, " ").trim()}`,
        );

        // MTU: the conflist's MTU is the pod interface's; a don't-fragment ping of exactly that size crosses,
        // one byte more is refused at the sender (not fragmented, not silently dropped).
        const conf = JSON.parse(fs.readFileSync(path.join(nodeTree(a0), "etc/cni/net.d/10-calico.conflist"), "utf8")) as {
            plugins: { mtu: number }[];
        };
        const mtu = conf.plugins[0]!.mtu;
        const devMtu = (await inNetns(ns(a0), "cat", ["/sys/class/net/eth0/mtu"])).stdout.trim();
        if (devMtu !== String(mtu)) throw new Error(`pingtest-${a0} eth0 mtu ${devMtu}, conflist mtu ${mtu}`);
        const df = (size: number, count: number) =>
            inNetns(ns(a0), "ping", ["-n", "-c", String(count), "-i", "0.2", "-W", "1", "-M", "do", "-s", String(size), ip(b1)], {
                timeoutS: 10,
            });
        const fits = await df(mtu - 28, 3);
        if (fits.code !== 0)
            throw new Error(`DF ping of ${mtu} bytes pingtest-${a0} -> pingtest-${b1} failed: ${fits.stdout}${fits.stderr}`);
        const over = await df(mtu - 27, 1);
        const overText = `${over.stdout}${over.stderr}`;
        if (over.code === 0) throw new Error(`a DF ping of ${mtu + 1} bytes got through`);
        if (!/message too long|mtu/i.test(overText))
            throw new Error(`a DF ping of ${mtu + 1} bytes was not refused as too long: ${overText}`);
        ctx.ok(
            `MTU ${mtu} (conflist = pod eth0): DF ping of ${mtu} bytes crosses nodes; ${mtu + 1} bytes refused (${/message too long[^)]*\)?|mtu[^)]*/i.exec(overText)?.[0]})`,
        );

        // NetworkPolicy: deny all ingress to the pingtest pods; ping stops; deleting it brings it back.
        const policy = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "deny-ingress", namespace: PT_NS } };
        await k.apply({ ...policy, spec: { podSelector: { matchLabels: { app: "pingtest" } }, policyTypes: ["Ingress"] } });
        const blocked = await pingUntil(ns(a0), ip(b1), (p) => p.received === 0);
        if (blocked === undefined) throw new Error("ping still passes 30 tries after a deny-ingress NetworkPolicy");
        await k.delete({ apiVersion: policy.apiVersion, kind: policy.kind, name: "deny-ingress", namespace: PT_NS });
        const back = await pingUntil(ns(a0), ip(b1), (p) => p.loss === "0%");
        if (back === undefined) throw new Error("ping does not come back after deleting the NetworkPolicy");
        ctx.ok(`NetworkPolicy deny-ingress: ping blocked within ${blocked}s; deleted: ping back within ${back}s (0% loss)`);

        // IPAM release: the pod's handle (k8s-pod-network.<container id>) goes with the pod.
        const last = ctx.nodes[ctx.nodes.length - 1]!;
        const lastPod = pods.get(last)!;
        const handle = {
            apiVersion: "crd.projectcalico.org/v1",
            kind: "IPAMHandle",
            name: `k8s-pod-network.sbx${(lastPod.metadata?.uid ?? "").replace(/-/g, "")}`,
        };
        if (!(await k.get(handle))) throw new Error(`no IPAM handle ${handle.name} for pingtest-${last}`);
        await k.deletePod(PT_NS, `pingtest-${last}`, 60).catch((e: Error) => {
            throw new Error(`deleting pingtest-${last} timed out: ${e.message}`);
        });
        await k.waitGone(handle, 30).catch(() => {
            throw new Error(`IPAM handle ${handle.name} still there after the pod was deleted`);
        });
        if (await netnsExists(ns(last))) throw new Error(`pod network namespace ${ns(last)} left behind`);
        ctx.ok(`deleting pingtest-${last} (${ip(last)}) released its IPAM handle ${handle.name} and removed its namespace`);
        await k.apply(pingtestPod(`pingtest-${last}`, last));
        await k.podsReady(PT_NS, [`pingtest-${last}`], 120).catch((e: Error) => {
            throw new Error(`pingtest-${last} not Ready again: ${e.message}`);
        });
    },
};

export const secondPool: Check = {
    name: "second-pool",
    title: "second pool: a pod in ipv4-ippool-2 is reachable from another node (the lab's failed step)",
    run: async (ctx) => {
        const pool2 = poolCidr(ctx, "ipv4-ippool-2");
        const [n, other] = [ctx.nodes[2]!, ctx.nodes[0]!];
        const name = "pingtest-ippool-2";
        await ctx.kube.apply(pingtestPod(name, n, { "cni.projectcalico.org/ipv4pools": '["ipv4-ippool-2"]' }));
        const [pod] = await ctx.kube.podsReady(PT_NS, [name], 120).catch(async (e: Error) => {
            const ev = await ctx.kube.core
                .listNamespacedEvent({ namespace: PT_NS, fieldSelector: `involvedObject.name=${name}` })
                .catch(() => undefined);
            const last = (ev?.items ?? []).slice(-5).map((x) => `${x.reason}: ${x.message}`);
            throw new Error(`${name} not Ready (${e.message}); its last events: ${last.join(" | ") || "none"}`);
        });
        const ip = podIp(pod!);
        if (!ipIn(ip, pool2)) throw new Error(`${name} got ${ip}, outside ipv4-ippool-2 ${pool2}`);
        const from = await ctx.kube.pod(PT_NS, `pingtest-${other}`);
        const r = await pingFrom(podNetns(from), ip);
        if (r.loss !== "0%") throw new Error(`pingtest-${other} -> ${name} (${ip}): ${fmtPing(r)}`);
        ctx.ok(`${name} on ${n} got ${ip} (in ipv4-ippool-2 ${pool2}); pingtest-${other} pings it: sent/received/loss ${fmtPing(r)}`);
    },
};
