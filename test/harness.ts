/**
 * Strict recording Pulumi mocks. Import this module FIRST in a test file: it calls setMocks before any
 * program module loads. Every resource registration is recorded; an unknown resource type or function
 * call throws, so the program can't quietly start depending on something the tests don't model.
 */
import type { UploadPlan } from "../components/builders/upload";
import * as pulumi from "@pulumi/pulumi";
import { EventEmitter } from "events";
import { parseAllDocuments } from "yaml";
import type { Calico } from "../components/calico";
import type { CalicoConfig } from "../components/config/types";
import { skipUnreadPromiseStacks } from "../components/promiseStacks";

// Jest maps stacks to the sources in its own realm: the test's Error has no prepareStackTrace, so Node
// falls back to the outer realm's. The outer Error is reached through a core module's Function, and a
// formatter that hands every stack to it goes in front here, so the filters below can sit before it.
const unmapped = (err: Error, frames: NodeJS.CallSite[]) => `${String(err)}\n${frames.map((f) => `    at ${String(f)}`).join("\n")}`;
if (Error.prepareStackTrace === undefined) {
    const outerError = (Object.getPrototypeOf(EventEmitter) as FunctionConstructor).constructor("return Error")() as ErrorConstructor;
    Error.prepareStackTrace = (err, frames) => (outerError.prepareStackTrace ?? unmapped)(err, frames);
}
// As index.ts does: the SDK's promise stacks, unread, would be formatted through jest's source maps.
skipUnreadPromiseStacks();
// The SDK also takes a whole stack for each resource's source position, which jest maps frame by frame;
// nothing reads positions under the mocks, so those stacks are formatted unmapped. Every other stack
// (a failing test's among them) keeps jest's mapping.
const mapStack = Error.prepareStackTrace;
Error.prepareStackTrace = (err, frames) => {
    const top = frames[0];
    if (top?.getFunctionName() === "callsites" && (top.getFileName() ?? "").includes("@pulumi/pulumi")) return unmapped(err, frames);
    return mapStack!(err, frames);
};

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** The outputs the mock returned, i.e. what the engine would keep as the resource's state. */
    state: Record<string, any>;
}

export interface RecordedOpts {
    type: string;
    name: string;
    parent?: string;
    dependsOn: string[];
    /** `type::name` of this resource, its parent, and everything it depends on (dependsOn and the resources behind its inputs). */
    key: string;
    parentKey?: string;
    depKeys: string[];
    deleteBeforeReplace?: boolean;
    additionalSecretOutputs?: string[];
    /** The names this resource was known by before (options.aliases), URNs or alias specs. */
    aliases?: unknown[];
}

/**
 * Extra base64-like characters in the mock keys and certificates: 0 in tests; the bench sets the sizes of
 * real RSA-2048 PEMs, so the state it measures carries real-sized kubeconfigs.
 */
export const PEM_SIZES = { key: 0, ecKey: 0, cert: 0 };

function pemFiller(chars: number): string {
    return chars > 0 ? `${"A".repeat(chars).replace(/(.{64})(?=.)/g, "$1\n")}\n` : "";
}

/** Resource types the program may register, with the outputs a real provider would compute. */
const KNOWN: Record<string, (name: string, inputs: any) => Record<string, unknown>> = {
    "tls:index/privateKey:PrivateKey": (name, i) => ({
        privateKeyPem:
            i.algorithm === "ECDSA"
                ? `-----BEGIN EC PRIVATE KEY-----\nkey-of-${name}\n${pemFiller(PEM_SIZES.ecKey)}-----END EC PRIVATE KEY-----\n`
                : `-----BEGIN RSA PRIVATE KEY-----\nkey-of-${name}\n${pemFiller(PEM_SIZES.key)}-----END RSA PRIVATE KEY-----\n`,
        publicKeyPem: `-----BEGIN PUBLIC KEY-----\npub-of-${name}\n-----END PUBLIC KEY-----\n`,
    }),
    "tls:index/selfSignedCert:SelfSignedCert": (name, i) => ({
        certPem: `-----BEGIN CERTIFICATE-----\nself-signed ${name} CN=${i.subject?.commonName}\n-----END CERTIFICATE-----\n`,
    }),
    "tls:index/certRequest:CertRequest": (name, i) => ({
        certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\ncsr ${name} CN=${i.subject?.commonName}\n-----END CERTIFICATE REQUEST-----\n`,
    }),
    "tls:index/locallySignedCert:LocallySignedCert": (name, i) => ({
        certPem: `-----BEGIN CERTIFICATE-----\n${name} from ${String(i.certRequestPem).split("\n")[1]}\n${pemFiller(PEM_SIZES.cert)}-----END CERTIFICATE-----\n`,
    }),
    "command:remote:Command": (name) => ({
        stdout: /cluster-ca-(cert|key)$/.test(name) ? `-----BEGIN X-----\nread by ${name}\n-----END X-----\n` : "",
        stderr: "",
    }),
    "command:remote:CopyToRemote": () => ({}),
    // The program reads its own stack's last outputs (`pools` in resources/previousOutputs.ts, `calicoctlApplied` in
    // resources/calicoctlApply.ts); tests set them in previousStackOutputs.
    "pulumi:pulumi:StackReference": () => ({ outputs: { ...previousStackOutputs }, secretOutputNames: [] }),
};

/** What a StackReference to this stack returns: the outputs of a "previous" update. Empty unless a test sets it. */
export const previousStackOutputs: Record<string, unknown> = {};

/** Kubernetes kinds (any group) the program may create. */
function isKubernetes(type: string): boolean {
    return type.startsWith("kubernetes:");
}

/** The program's own components. */
function isComponent(type: string): boolean {
    return type.startsWith("calico:index:");
}

/** Alibaba Cloud types the program may create when aliyun.enabled is true, and their explicit provider. */
function isAlicloud(type: string): boolean {
    return type.startsWith("alicloud:") || type === "pulumi:providers:alicloud";
}

export const recorded: Recorded[] = [];
export const recordedOpts: RecordedOpts[] = [];
export const calls: { token: string; inputs: any }[] = [];

/** Extra call handlers a test can install (e.g. alicloud look-ups); unknown tokens still throw. */
export const callHandlers: Record<string, (inputs: any) => Record<string, unknown>> = {
    "kubernetes:yaml:decode": (inputs) => ({ result: decodeYaml(String(inputs.text)) }),
};

/**
 * The CRDs' OpenAPI schemas are most of a build's bytes, and the mocks pass every byte through protobuf
 * several times per build. Builds keep every CRD, its names and versions, but give each version a schema
 * of its top level only, unless a test asks for the full schemas (those about the schemas do).
 */
export const crdSchemas = { full: false };
function thinCrd(doc: any): any {
    if (crdSchemas.full || doc?.kind !== "CustomResourceDefinition") return doc;
    const versions = doc.spec.versions.map((v: any) => {
        const { type, description } = v.schema?.openAPIV3Schema ?? {};
        return { ...v, schema: { openAPIV3Schema: { type, description, "x-kubernetes-preserve-unknown-fields": true } } };
    });
    return { ...doc, spec: { ...doc.spec, versions } };
}

// Parsed once per text; safe to share, since the mock's answer is serialized to the program, which gets a copy.
const decoded = new Map<string, unknown[]>();
function decodeYaml(text: string): unknown[] {
    let docs = decoded.get(`${crdSchemas.full}:${text}`);
    if (docs === undefined) {
        docs = parseAllDocuments(text)
            .map((d) => thinCrd(d.toJS()))
            .filter((d) => d !== null && d !== undefined);
        decoded.set(`${crdSchemas.full}:${text}`, docs);
    }
    return docs;
}

void pulumi.runtime.setMocks(
    {
        newResource(args) {
            const known = KNOWN[args.type];
            if (!known && !isKubernetes(args.type) && !isAlicloud(args.type) && !isComponent(args.type)) {
                throw new Error(`unexpected resource type ${args.type} (${args.name}); model it in test/harness.ts`);
            }
            // The tls provider the sandbox builds has none of the 5.6.1 SDK's write-only inputs.
            const writeOnly = args.type.startsWith("tls:") ? Object.keys(args.inputs).filter((k) => /Wo(Version)?$/.test(k)) : [];
            if (writeOnly.length > 0)
                throw new Error(`${args.type} ${args.name}: write-only inputs ${writeOnly} are not in the tls provider the e2e runs`);
            // Like upstream providers (@pulumi/command among them), the state repeats every input.
            const state = { ...args.inputs, ...(known ? known(args.name, args.inputs) : {}) };
            recorded.push({ type: args.type, name: args.name, inputs: args.inputs, state });
            return { id: `${args.name}-id`, state };
        },
        call(args) {
            calls.push({ token: args.token, inputs: args.inputs });
            const handler = callHandlers[args.token];
            if (!handler) throw new Error(`unexpected call ${args.token}; model it in test/harness.ts`);
            return handler(args.inputs);
        },
    },
    "calico-hard-way",
    "test",
    false,
    "organization",
);

function resourceName(r: unknown): string {
    return (r as { __name?: string }).__name ?? "?";
}
/** Names repeat across kinds (calico-node is a ServiceAccount, a ClusterRole, a DaemonSet...): type and name. */
function resourceKey(r: unknown): string {
    return `${(r as { __pulumiType?: string }).__pulumiType ?? "?"}::${resourceName(r)}`;
}

/** Every Output inside an input value (objects and arrays walked), for its resources: the engine's property dependencies. */
function outputsIn(v: unknown, out: pulumi.Output<unknown>[] = [], depth = 0): pulumi.Output<unknown>[] {
    if (depth > 12 || v === null || typeof v !== "object") return out;
    if (pulumi.Output.isInstance(v)) out.push(v);
    else if (pulumi.Resource.isInstance(v)) return out;
    else for (const x of Array.isArray(v) ? v : Object.values(v)) outputsIn(x, out, depth + 1);
    return out;
}

/** A transformation on the top-level component: it sees every child's options (parent, dependsOn). */
export const recordOptions: pulumi.ResourceTransformation = (args) => {
    const names: string[] = [];
    const depKeys: string[] = [];
    const addKey = (r: unknown) => void (depKeys.includes(resourceKey(r)) || depKeys.push(resourceKey(r)));
    for (const o of outputsIn(args.props)) {
        // allResources is the SDK's own (internal) record of what an Output was computed from.
        void (o as unknown as { allResources(): Promise<Set<unknown>> }).allResources().then((rs) => rs.forEach(addKey));
    }
    recordedOpts.push({
        type: args.type,
        name: args.name,
        parent: args.opts.parent ? resourceName(args.opts.parent) : undefined,
        key: `${args.type}::${args.name}`,
        parentKey: args.opts.parent ? resourceKey(args.opts.parent) : undefined,
        depKeys,
        dependsOn: names,
        deleteBeforeReplace: (args.opts as pulumi.CustomResourceOptions).deleteBeforeReplace,
        additionalSecretOutputs: (args.opts as pulumi.CustomResourceOptions).additionalSecretOutputs,
        aliases: args.opts.aliases as unknown[] | undefined,
    });
    // dependsOn may be an Output of resources (e.g. the CRDs once parsed): its names arrive before settle() ends.
    const add = (deps: unknown) => {
        const list = Array.isArray(deps) ? deps : deps ? [deps] : [];
        for (const d of list) {
            if (pulumi.Output.isInstance(d) || d instanceof Promise) later(d);
            else {
                if (!names.includes(resourceName(d))) names.push(resourceName(d));
                addKey(d);
            }
        }
    };
    const dependsOn = args.opts.dependsOn;
    const later = (d: unknown) => void (pulumi.output(d) as pulumi.Output<unknown>).apply(add);
    if (pulumi.Output.isInstance(dependsOn) || dependsOn instanceof Promise) later(dependsOn);
    else add(dependsOn);
    return undefined;
};

/**
 * The round in which `pulumi destroy` deletes each recorded resource, 0 first: the engine's ScheduleDeletes
 * (pulumi pkg/resource/deploy/step_generator.go) layers resources by their longest chain of dependencies
 * (parent included; a component dependency counts with its children registered before) and deletes the
 * deepest layer first, each layer in parallel.
 */
export function deleteRounds(): Map<string, number> {
    const index = new Map(recordedOpts.map((o, i) => [o.key, i]));
    const children = new Map<string, string[]>();
    for (const o of recordedOpts) if (o.parentKey) children.set(o.parentKey, [...(children.get(o.parentKey) ?? []), o.key]);
    const descendants = (k: string): string[] => (children.get(k) ?? []).flatMap((c) => [c, ...descendants(c)]);
    const depth = new Map<string, number>();
    const depthOf = (k: string): number => {
        if (depth.has(k)) return depth.get(k)!;
        const o = recordedOpts[index.get(k) ?? -1];
        if (!o) return 0;
        const before = (d: string) => (index.get(d) ?? Infinity) < index.get(k)!;
        const deps = [...(o.parentKey ? [o.parentKey] : []), ...o.depKeys.flatMap((d) => [d, ...descendants(d).filter(before)])];
        const d = 1 + Math.max(0, ...deps.filter((x) => x !== k).map(depthOf));
        depth.set(k, d);
        return d;
    };
    const depths = recordedOpts.map((o) => depthOf(o.key));
    const deepest = Math.max(...depths);
    return new Map(recordedOpts.map((o, i) => [o.key, deepest - depths[i]!]));
}

export function reset(): void {
    recorded.length = 0;
    recordedOpts.length = 0;
    calls.length = 0;
    stagedPlans.length = 0;
}

/** Waits until registrations stop arriving (mocked registration is asynchronous). */
export async function settle(): Promise<void> {
    let last = -1;
    let stable = 0;
    while (stable < 5) {
        await new Promise((r) => setTimeout(r, 5));
        if (recorded.length === last) stable++;
        else {
            stable = 0;
            last = recorded.length;
        }
    }
}

/** Resolves an Output in a test. */
export function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Whether an Output is marked secret. */
export async function isSecretOutput(o: pulumi.Input<unknown>): Promise<boolean> {
    return pulumi.isSecret(pulumi.output(o));
}

export function byType(type: string): Recorded[] {
    return recorded.filter((r) => r.type === type);
}

export function find(type: string, name: string): Recorded {
    const r = recorded.find((x) => x.type === type && x.name === name);
    if (!r)
        throw new Error(
            `no ${type} named ${name}; have: ${recorded
                .filter((x) => x.type === type)
                .map((x) => x.name)
                .join(", ")}`,
        );
    return r;
}

/** kind/name (namespace) of every Kubernetes object, for set comparisons. */
export function kubernetesObjects(): string[] {
    return recorded
        .filter((r) => isKubernetes(r.type))
        .map((r) => `${r.type.split(":").pop()}/${r.inputs.metadata?.namespace ?? ""}/${r.inputs.metadata?.name ?? r.name}`);
}

/** dependsOn names without the CRDs (every Calico custom resource depends on all of them). */
export function withoutCrds(names: string[] | undefined): string[] {
    return (names ?? []).filter((n) => !/\.(crd\.projectcalico\.org|policy\.networking\.k8s\.io)$/.test(n));
}

/** Unwraps a secret-marked value as the mock monitor records it. */
export function plain(v: any): any {
    return v && typeof v === "object" && "4dabf18193072939515e22adb298388d" in v ? v.value : v;
}

/**
 * Builds the whole program from a resolved config under the mocks, recording every child's options, and
 * waits for every registration. Loaded lazily, so the program's modules load after setMocks.
 */
/** The upload plans the program staged (the tests' binaries do not exist; nothing is written). */
export const stagedPlans: UploadPlan[] = [];
/** Where a staged upload would be: the real stager's folder name (the digest's first 16 characters) under /stage. */
export const stagedDir = (digest: string) => `/stage/${digest.slice(0, 16)}`;
/** A script of the one upload the last build staged (builders/hostBundle.ts: install.sh, uninstall.sh). */
export function stagedScript(name: string): string {
    if (stagedPlans.length !== 1) throw new Error(`${stagedPlans.length} uploads staged, not 1`);
    const script = stagedPlans[0]!.scripts.find((s) => s.name === name);
    if (!script) throw new Error(`the staged upload has no ${name}`);
    return script.content;
}
function fakeStage(plan: UploadPlan): string {
    stagedPlans.push(plan);
    return stagedDir(plan.digest);
}

export async function buildProgram(config: CalicoConfig, transformations: pulumi.ResourceTransformation[] = []): Promise<Calico> {
    reset();
    const { Calico: Program } = require("../components/calico") as typeof import("../components/calico");
    const { readPreviousOutputs } =
        require("../components/resources/previousOutputs") as typeof import("../components/resources/previousOutputs");
    // As index.ts does: this stack's last outputs first (the mock StackReference returns previousStackOutputs).
    const previous = await readPreviousOutputs();
    const calico = new Program(
        "calico",
        { config, previous, stageUpload: fakeStage },
        { transformations: [recordOptions, ...transformations] },
    );
    await settle();
    return calico;
}

export interface InstalledFile {
    path: string;
    mode: string;
    content: string;
}

/** A frame of a node's install stdin (see frameFiles): the file, with `head` the sha256 of its staged head or "-". */
export interface InstallFrame extends InstalledFile {
    head: string;
}

/** A node's `<node>-cni-install` stdin, frame by frame, as it arrives (content without any head). */
export function installFrames(node: string): InstallFrame[] {
    const stdin = Buffer.from(String(plain(find("command:remote:Command", `${node}-cni-install`).inputs.stdin)), "utf8");
    const frames: InstallFrame[] = [];
    let at = 0;
    while (at < stdin.length) {
        const eol = stdin.indexOf("\n", at);
        const [size, mode, head, ...rest] = stdin.subarray(at, eol).toString().split(" ");
        const end = eol + 1 + Number(size);
        frames.push({ path: rest.join(" "), mode: mode!, head: head!, content: stdin.subarray(eol + 1, end).toString() });
        at = end;
    }
    return frames;
}

/**
 * The files a node's `<node>-cni-install` writes, in order, as the host assembles them: each frame of its
 * stdin after the head of that sha256 from the one upload staged (see frameFiles).
 */
export function installedFiles(node: string): InstalledFile[] {
    return installFrames(node).map(({ head, ...f }) => {
        if (head === "-") return f;
        const staged = stagedPlans.length === 1 ? stagedPlans[0]!.heads.find((h) => h.sha256 === head) : undefined;
        if (!staged) throw new Error(`${node}-cni-install: ${f.path} starts with head ${head}, which no single staged upload holds`);
        return { ...f, content: staged.content + f.content };
    });
}

/** One file of installedFiles by path. */
export function installedFile(node: string, path: string): InstalledFile {
    const f = installedFiles(node).find((x) => x.path === path);
    if (!f) throw new Error(`${node}-cni-install writes no ${path}`);
    return f;
}

/** The conflist a node's install writes, parsed: always the last file of its stdin. */
export function installedConflist(node: string): any {
    const last = installedFiles(node).at(-1);
    if (!last?.path.endsWith("/10-calico.conflist")) throw new Error(`${node}-cni-install writes ${last?.path} last, not the conflist`);
    return JSON.parse(last.content);
}

/**
 * A node's install command with the preflight's peer list blanked (its last argument, `'a=1 b=2'`, inside
 * the shq-quoted command, and once more escaped in JSON): what stays when only the other nodes it checks
 * TCP 179 to changed.
 */
export function withoutPreflightPeers(create: string): string {
    return create.replace(/(exec sh \\?"\$s\\?" '(?:\\){1,2}''[^']*'(?:\\){1,2}'' )'(?:\\){1,2}''[^']*'(?:\\){1,2}''/g, "$1<peers>");
}
