import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

// The sandbox, e2e and bench scripts: what CI runs against real Calico. A mistake in them shows up
// only as a flaky e2e, so the two classes we have hit are checked here, where they fail every time.
const root = path.join(__dirname, "..");
const scripts = ["sandbox", "bench", ".ci"].flatMap((dir) =>
    fs
        .readdirSync(path.join(root, dir))
        .filter((f) => f.endsWith(".sh") || (dir === ".ci" && f === "run"))
        .map((f) => path.join(dir, f)),
);

/** Lines that end a pipeline with `grep -q` (also `grep -qE` etc.), with their numbers. */
function pipedGrepQ(text: string): string[] {
    return text
        .split("\n")
        .map((line, i) => ({ line, n: i + 1 }))
        .filter(({ line }) => !line.trimStart().startsWith("#") && /(^|[^|])\|\s*grep\s+-q/.test(line))
        .map(({ line, n }) => `${n}: ${line.trim()}`);
}

describe("shell scripts", () => {
    test("there are scripts to check", () => {
        expect(scripts).toEqual(expect.arrayContaining(["sandbox/up.sh", "sandbox/netns.sh", "bench/sandbox.sh", ".ci/run"]));
    });

    test.each(scripts)("%s parses (bash -n)", (script) => {
        expect(() => execFileSync("bash", ["-n", path.join(root, script)], { stdio: "pipe" })).not.toThrow();
    });

    // Under pipefail, `cmd | grep -q x` fails at random when it matches: grep exits at the first match
    // and the writer, still writing, dies of SIGPIPE (CI's e2e failed so: netns.sh re-added an address
    // it had). lib.sh's qgrep reads to the end.
    test.each(scripts)("%s never ends a pipeline with grep -q (use qgrep)", (script) => {
        expect(pipedGrepQ(fs.readFileSync(path.join(root, script), "utf8"))).toEqual([]);
    });

    test.each([
        ["ip addr show | grep -q x", ["1: ip addr show | grep -q x"]],
        ["ss -Htn |grep -qE ':1'", ["1: ss -Htn |grep -qE ':1'"]],
        ['a || grep -q x <<<"$y"', []],
        ["grep -q x file", []],
        ["ip addr show | qgrep x", []],
        ["  # ip | grep -q x", []],
    ])("pipedGrepQ(%j)", (text, want) => {
        expect(pipedGrepQ(text)).toEqual(want);
    });
});
