import * as auto from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { REPO, S } from "./env";
import { pulumiRead } from "../../../verify/stack";
import { runOk } from "./proc";

/**
 * One sandbox stack, driven through the Automation API on the sandbox's engine (PATH) and file backend.
 *
 * The committed stack files stay exactly as they are: `pulumi stack init` and `config set` would rewrite
 * them (add encryptionsalt, drop comments). Every operation therefore runs with `configFile` on a working
 * copy, $S/stacks/<stack>/Pulumi.<stack>.yaml = a committed file, edited, plus the passphrase salt of the
 * stack. The program itself runs from the repo root, so relative paths in the file work.
 */
export const PROJECT = (YAML.parse(fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8")) as { name: string }).name;
/** Bound on every pulumi operation (E2E_PULUMI_TIMEOUT seconds, default 600). */
const OP_TIMEOUT_S = Number(process.env.E2E_PULUMI_TIMEOUT ?? 600);

/** The `config:` map of a stack file, edited through the yaml package (comments kept). */
export class StackConfig {
    constructor(readonly doc: YAML.Document) {}
    private map(): YAML.YAMLMap {
        const m = this.doc.get("config");
        if (!YAML.isMap(m)) throw new Error("the stack file has no config map");
        return m;
    }
    /** `calico:<key>`'s value as plain JS, or undefined. */
    get(key: string): unknown {
        const v = this.map().get(`calico:${key}`, true);
        return YAML.isNode(v) ? v.toJSON() : v;
    }
    /** Sets `calico:<key>` (path below it, e.g. set("cni", "mtu", 1400)) to a plain value. */
    set(key: string, ...pathAndValue: unknown[]): void {
        const value = pathAndValue.pop();
        this.map().setIn([`calico:${key}`, ...(pathAndValue as string[])], this.doc.createNode(value));
    }
    delete(key: string, ...subPath: string[]): void {
        this.map().deleteIn([`calico:${key}`, ...subPath]);
    }
    /** The item of the list `calico:<list>` whose name is `name` (throws when there is none). */
    item(list: "pools" | "nodes" | string, name: string): YAML.YAMLMap {
        const it = this.seq(list).items.find((i) => YAML.isMap(i) && i.get("name") === name);
        if (!YAML.isMap(it)) throw new Error(`no ${name} in calico:${list}`);
        return it;
    }
    /** Removes the item named `name` from `calico:<list>`. */
    removeItem(list: string, name: string): void {
        const seq = this.seq(list);
        seq.items = seq.items.filter((i) => !(YAML.isMap(i) && i.get("name") === name));
    }
    /** Appends a plain item to `calico:<list>`. */
    addItem(list: string, value: object): void {
        this.seq(list).add(this.doc.createNode(value));
    }
    private seq(list: string): YAML.YAMLSeq {
        const seq = this.map().get(`calico:${list}`, true);
        if (!YAML.isSeq(seq)) throw new Error(`calico:${list} is not a list`);
        return seq;
    }
}
export type ConfigEdit = (c: StackConfig) => void;

export interface OpOptions {
    expectNoChanges?: boolean;
    continueOnError?: boolean;
}
export interface OpResult {
    ok: boolean;
    /** Resource changes by op, from the engine's summary ("create": 41, ...). */
    changes: Record<string, number>;
    /** Every step of the operation, from the engine's events. */
    steps: auto.StepEventMetadata[];
    /** The whole output (also in the log file), and the error when the operation failed. */
    output: string;
    error?: string;
    seconds: number;
    log: string;
}

export class E2EStack {
    readonly dir: string;
    readonly configFile: string;
    private readonly saltFile: string;
    private stack?: auto.Stack;
    private edits: ConfigEdit[] = [];

    /** `base`: the committed stack file the working copy starts from (default Pulumi.sandbox.yaml). */
    constructor(
        readonly name: string,
        readonly logDir: string,
        readonly base = "Pulumi.sandbox.yaml",
    ) {
        this.dir = path.join(S, "stacks", name);
        this.configFile = path.join(this.dir, `Pulumi.${name}.yaml`);
        this.saltFile = path.join(this.dir, "salt");
    }

    private async workspace(): Promise<auto.LocalWorkspace> {
        return auto.LocalWorkspace.create({ workDir: REPO, envVars: process.env as Record<string, string> });
    }
    async exists(): Promise<boolean> {
        const ws = await this.workspace();
        return (await ws.listStacks()).some((s) => s.name === this.name);
    }

    /**
     * Creates the stack unless it exists (in a scratch project of the same name, so its salt lands there,
     * not in a committed file), then writes the working copy: the base file with `edit` applied.
     */
    async prepare(edit?: ConfigEdit): Promise<void> {
        fs.mkdirSync(this.dir, { recursive: true });
        if (!(await this.exists()) || !fs.existsSync(this.saltFile)) {
            if (await this.exists()) await this.remove();
            const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-stack-"));
            try {
                const ws = await auto.LocalWorkspace.create({
                    workDir: scratch,
                    projectSettings: { name: PROJECT, runtime: "nodejs" },
                    envVars: process.env as Record<string, string>,
                });
                await ws.createStack(this.name);
                const salt = fs
                    .readFileSync(path.join(scratch, `Pulumi.${this.name}.yaml`), "utf8")
                    .split("\n")
                    .find((l) => l.startsWith("encryptionsalt:"));
                if (!salt) throw new Error(`pulumi stack init ${this.name} wrote no encryptionsalt`);
                fs.mkdirSync(this.dir, { recursive: true });
                fs.writeFileSync(this.saltFile, `${salt}\n`);
            } finally {
                fs.rmSync(scratch, { recursive: true, force: true });
            }
        }
        this.stack = await this.select();
        this.edits = edit ? [edit] : [];
        this.writeConfig();
    }

    /**
     * The stack on a workspace of the repo. After `up` the Automation API reads the outputs with
     * `--show-secrets` and no config file, and the CLI would then write the salt into the repo's stack file:
     * the workspace reads them the way `outputs()` does instead.
     */
    private async select(): Promise<auto.Stack> {
        const stack = await auto.LocalWorkspace.selectStack(
            { stackName: this.name, workDir: REPO },
            { envVars: process.env as Record<string, string> },
        );
        (stack.workspace as unknown as { stackOutputs: () => Promise<auto.OutputMap> }).stackOutputs = () => this.outputs();
        // Likewise the summary after up and destroy: `stack history --show-secrets` (showSecrets defaults to true there).
        (stack as unknown as { history: (pageSize?: number, page?: number) => Promise<auto.UpdateSummary[]> }).history = async (
            pageSize,
            page,
        ) => {
            const paging = pageSize
                ? ["--page-size", String(Math.floor(pageSize)), "--page", String(Math.max(1, Math.floor(page ?? 1)))]
                : [];
            const out = await this.readCli(["stack", "history", "--json", ...paging]);
            return JSON.parse(out, (k: string, v: unknown) => (k === "startTime" || k === "endTime" ? new Date(v as string) : v));
        };
        return stack;
    }

    /** The working copy = base file + every edit so far + salt. */
    private writeConfig(): void {
        const doc = YAML.parseDocument(fs.readFileSync(path.join(REPO, this.base), "utf8"));
        const c = new StackConfig(doc);
        for (const e of this.edits) e(c);
        fs.writeFileSync(this.configFile, `${doc.toString()}\n${fs.readFileSync(this.saltFile, "utf8")}`);
    }
    /** One more edit on top of the ones so far (as `pulumi config set` would). */
    editConfig(edit: ConfigEdit): void {
        this.edits.push(edit);
        this.writeConfig();
    }
    /** Back to the base file, then `edit` (the style's own edit, usually). */
    resetConfig(edit?: ConfigEdit): void {
        this.edits = edit ? [edit] : [];
        this.writeConfig();
    }
    /**
     * `pulumi config set --secret calico:<key>` with the value on stdin (never on a command line), kept
     * as the ciphertext it wrote, so later rewrites of the working copy keep it.
     */
    async setSecret(key: string, value: string): Promise<void> {
        await runOk(
            "pulumi",
            ["config", "set", "--secret", "--non-interactive", "--stack", this.name, "--config-file", this.configFile, `calico:${key}`],
            {
                cwd: REPO,
                input: value,
                timeoutS: 60,
            },
        );
        const secure = this.config().get(key);
        if (!secure || typeof secure !== "object" || !("secure" in secure))
            throw new Error(`calico:${key} was not written as a secure value`);
        this.edits.push((c) => c.set(key, secure));
    }
    config(): StackConfig {
        return new StackConfig(YAML.parseDocument(fs.readFileSync(this.configFile, "utf8")));
    }

    private s(): auto.Stack {
        if (!this.stack) throw new Error(`stack ${this.name}: prepare() first`);
        return this.stack;
    }

    private async op(label: string, kind: "up" | "preview" | "destroy", opts: OpOptions): Promise<OpResult> {
        fs.mkdirSync(this.logDir, { recursive: true });
        const log = path.join(this.logDir, `${label}.log`);
        fs.writeFileSync(log, "");
        let output = "";
        const steps: auto.StepEventMetadata[] = [];
        const common = {
            configFile: this.configFile,
            color: "never" as const,
            onOutput: (o: string) => {
                output += o;
                fs.appendFileSync(log, o);
            },
            onEvent: (e: auto.EngineEvent) => {
                const m = e.resourcePreEvent?.metadata;
                if (m) steps.push(m);
            },
            signal: AbortSignal.timeout(OP_TIMEOUT_S * 1000),
        };
        const t0 = Date.now();
        try {
            let changes: Record<string, number> = {};
            if (kind === "up") {
                const r = await this.s().up({ ...common, expectNoChanges: opts.expectNoChanges, continueOnError: opts.continueOnError });
                changes = (r.summary.resourceChanges ?? {}) as Record<string, number>;
            } else if (kind === "preview") {
                const r = await this.s().preview({ ...common, expectNoChanges: opts.expectNoChanges });
                changes = r.changeSummary as Record<string, number>;
            } else {
                const r = await this.s().destroy({ ...common, continueOnError: opts.continueOnError });
                changes = (r.summary.resourceChanges ?? {}) as Record<string, number>;
            }
            return { ok: true, changes, steps, output, seconds: secs(t0), log };
        } catch (e) {
            const error = (e as Error).message;
            fs.appendFileSync(log, `\n--- error\n${error}\n`);
            return { ok: false, changes: {}, steps, output, error, seconds: secs(t0), log };
        }
    }
    up(label: string, opts: OpOptions = {}): Promise<OpResult> {
        return this.op(label, "up", opts);
    }
    preview(label: string, opts: OpOptions = {}): Promise<OpResult> {
        return this.op(label, "preview", opts);
    }
    destroy(label: string, opts: OpOptions = {}): Promise<OpResult> {
        return this.op(label, "destroy", opts);
    }
    /** `up` that must succeed: throws with the tail of its output. */
    async upOk(label: string, opts: OpOptions = {}): Promise<OpResult> {
        const r = await this.up(label, opts);
        if (!r.ok) throw new Error(`pulumi up (${label}) failed (${r.log}):\n${tail(r.error ?? r.output, 30)}`);
        return r;
    }

    /** A read-only CLI command on this stack, never in the repo (verify/stack.ts pulumiRead). */
    private readCli(args: string[]): Promise<string> {
        return pulumiRead(args, { stack: this.name, configFile: this.configFile, projectDir: REPO });
    }
    /** The checkpoint (`pulumi stack export`, secrets encrypted unless `showSecrets`). */
    async exportState(showSecrets = false): Promise<{ deployment: { resources?: StateResource[] } } & Record<string, unknown>> {
        // Not the Automation API's exportStack: it always passes --show-secrets.
        return JSON.parse(await this.readCli(["stack", "export", ...(showSecrets ? ["--show-secrets"] : [])]));
    }
    /** The stack's outputs, secrets in plaintext and flagged (as the Automation API's outputs()). */
    async outputs(): Promise<auto.OutputMap> {
        const masked = JSON.parse(await this.readCli(["stack", "output", "--json"])) as Record<string, unknown>;
        const plain = JSON.parse(await this.readCli(["stack", "output", "--json", "--show-secrets"])) as Record<string, unknown>;
        return Object.fromEntries(Object.entries(plain).map(([k, value]) => [k, { value, secret: masked[k] === "[secret]" }]));
    }

    /** Destroys whatever the stack still holds (best effort) and removes it and its working copy. */
    async remove(): Promise<void> {
        if (await this.exists()) {
            if (fs.existsSync(this.saltFile) && fs.existsSync(this.configFile)) {
                this.stack ??= await this.select();
                await this.destroy("destroy-leftover", { continueOnError: true });
            }
            const ws = await this.workspace();
            await ws.removeStack(this.name, { force: true, preserveConfig: true });
        }
        this.stack = undefined;
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export interface StateResource {
    urn: string;
    type: string;
    custom?: boolean;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}
const secs = (t0: number): number => Math.round((Date.now() - t0) / 100) / 10;
export const tail = (text: string, n: number): string => text.trim().split("\n").slice(-n).join("\n");

/** A step as the bash e2e printed it: "op name type" (name = the URN's last part). */
export function stepText(s: auto.StepEventMetadata): string {
    const name = s.urn.split("::").pop();
    const type = s.urn.split("::")[2]?.split("$").pop();
    return `${s.op} ${name} ${type}`;
}
/** Steps that change a provider resource (reads and no-ops excluded). */
export const realChanges = (steps: readonly auto.StepEventMetadata[]): auto.StepEventMetadata[] =>
    steps.filter((s) => s.op !== "same" && s.op !== "read" && (s.new ?? s.old)?.custom === true);
/** Kubernetes objects (apiVersion, kind, namespace, name) the state holds. */
export function kubernetesObjects(
    resources: readonly StateResource[] = [],
): { apiVersion: string; kind: string; namespace?: string; name: string }[] {
    return resources
        .filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:yaml") && !r.type.startsWith("pulumi:providers"))
        .filter((r) => r.outputs?.kind)
        .map((r) => {
            const o = r.outputs as { apiVersion: string; kind: string; metadata: { namespace?: string; name: string } };
            return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name };
        });
}
