import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pulumiRead } from "../verify/stack";

// A `pulumi` on PATH that reports its cwd and arguments, and writes a salt into the stack file of its cwd,
// as the real CLI does when it reads a stack whose file has none.
let dir: string;
let project: string;
let savedPath: string | undefined;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-read-test-"));
    project = path.join(dir, "project");
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: p\nruntime: nodejs\n");
    fs.writeFileSync(
        path.join(dir, "bin", "pulumi"),
        '#!/bin/sh\necho "encryptionsalt: x" >> "Pulumi.s.yaml"\nprintf \'{"cwd": "%s", "args": "%s", "file": "%s"}\' "$PWD" "$*" "$(head -1 Pulumi.s.yaml)"\n',
        { mode: 0o755 },
    );
    savedPath = process.env.PATH;
    process.env.PATH = `${path.join(dir, "bin")}:${savedPath}`;
});
afterAll(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("pulumiRead", () => {
    test("with a config file the command cannot take: from a scratch project holding that file as the stack's, nothing written to the project", async () => {
        const cfg = path.join(dir, "working-copy.yaml");
        fs.writeFileSync(cfg, "config:\n  calico:x: 1\n");
        const out = JSON.parse(await pulumiRead(["stack", "output", "--json"], { stack: "s", configFile: cfg, projectDir: project }));
        expect(out.cwd).not.toBe(project);
        expect(out.args).toBe("stack output --json --non-interactive --stack s");
        expect(out.file).toBe("config:");
        expect(fs.existsSync(path.join(project, "Pulumi.s.yaml"))).toBe(false);
        expect(fs.existsSync(out.cwd)).toBe(false);
    });

    test("with a config file the command takes: in the project, with --config-file", async () => {
        const out = JSON.parse(await pulumiRead(["config", "--json"], { stack: "s", configFile: "/c.yaml", projectDir: project }, true));
        expect(out.cwd).toBe(project);
        expect(out.args).toBe("config --json --non-interactive --stack s --config-file /c.yaml");
        fs.rmSync(path.join(project, "Pulumi.s.yaml"));
    });
});
