import * as fs from "fs";
import * as path from "path";

// The README is a front door to docs/: every relative link, and every #anchor, must land.
const root = path.join(__dirname, "..");
const pages = ["README.md", "sandbox/README.md", ...fs.readdirSync(path.join(root, "docs")).map((f) => `docs/${f}`)];

/** GitHub's anchors of a page's headings (outside code fences). */
function anchors(file: string): Set<string> {
    const out = new Set<string>();
    let fenced = false;
    for (const line of fs.readFileSync(path.join(root, file), "utf8").split("\n")) {
        if (line.startsWith("```")) fenced = !fenced;
        const m = !fenced && /^#{1,6} (.*)$/.exec(line);
        if (m)
            out.add(
                m[1]!
                    .trim()
                    .toLowerCase()
                    .replace(/[^\w\- ]/g, "")
                    .replace(/ /g, "-"),
            );
    }
    return out;
}

/** Every relative link of a page that does not resolve: a missing file or a missing anchor. */
function brokenLinks(file: string): string[] {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    const broken: string[] = [];
    for (const m of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^(https?:|mailto:)/.test(target)) continue;
        const [rel, frag] = target.split("#");
        const dest = rel ? path.normalize(path.join(path.dirname(file), rel)) : file;
        if (!fs.existsSync(path.join(root, dest))) broken.push(`${target}: no such file`);
        else if (frag && !anchors(dest).has(frag)) broken.push(`${target}: no such heading in ${dest}`);
    }
    return broken;
}

describe("the documentation", () => {
    test("the README links every docs/ page and stays a front door", () => {
        const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
        for (const page of pages.filter((p) => p.startsWith("docs/"))) expect(readme).toContain(`](${page})`);
        expect(readme.split("\n").length).toBeLessThanOrEqual(300);
    });

    test.each(pages)("%s: every relative link and anchor resolves", (page) => {
        expect(brokenLinks(page)).toEqual([]);
    });
});
