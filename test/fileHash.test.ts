import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cachedFileSha256 } from "../components/config/fileHash";

let dir: string;
let cacheFile: string;
const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const at = (p: string) => path.join(dir, p);

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "calico-hash-"));
    cacheFile = at("cache/sha256.json");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test("hashes a file once, then answers from the cache while the file is unchanged", () => {
    fs.writeFileSync(at("calico"), "calico binary");
    expect(cachedFileSha256(cacheFile)(at("calico"))).toBe(sha("calico binary"));
    const cache = JSON.parse(fs.readFileSync(cacheFile, "utf8"));
    expect(Object.keys(cache)).toEqual([fs.realpathSync(at("calico"))]);

    // A later run trusts the entry for the same stat: a planted sha256 proves the file was not read again.
    const key = fs.realpathSync(at("calico"));
    fs.writeFileSync(cacheFile, JSON.stringify({ [key]: { ...cache[key], sha256: "planted" } }));
    expect(cachedFileSha256(cacheFile)(at("calico"))).toBe("planted");
});

test("a changed file is hashed again, even at the same size and mtime", () => {
    fs.writeFileSync(at("calico"), "calico binary");
    cachedFileSha256(cacheFile)(at("calico"));
    const { atime, mtime } = fs.statSync(at("calico"));
    fs.writeFileSync(at("calico"), "calico BINARY");
    fs.utimesSync(at("calico"), atime, mtime); // mtime put back; the ctime still moved
    expect(cachedFileSha256(cacheFile)(at("calico"))).toBe(sha("calico BINARY"));
});

test("a link is hashed as its target, once; a missing file or a folder is undefined", () => {
    fs.writeFileSync(at("calico"), "calico binary");
    fs.symlinkSync(at("calico"), at("link"));
    const hash = cachedFileSha256(cacheFile);
    expect([hash(at("link")), hash(at("calico"))]).toEqual([sha("calico binary"), sha("calico binary")]);
    expect(Object.keys(JSON.parse(fs.readFileSync(cacheFile, "utf8")))).toHaveLength(1);
    expect([hash(at("missing")), hash(dir)]).toEqual([undefined, undefined]);
});

test("an unreadable cache or an unwritable cache folder only costs the hashing", () => {
    fs.writeFileSync(at("calico"), "calico binary");
    fs.mkdirSync(path.dirname(cacheFile));
    fs.writeFileSync(cacheFile, "{not json");
    expect(cachedFileSha256(cacheFile)(at("calico"))).toBe(sha("calico binary"));
    fs.writeFileSync(at("blocker"), "");
    expect(cachedFileSha256(at("blocker/sha256.json"))(at("calico"))).toBe(sha("calico binary"));
});
