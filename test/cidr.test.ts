import fc from "fast-check";
import { contains, overlaps, parseCidr } from "../components/facts/cidr";

// Property tests for the CIDR maths that pool and node validation stand on.
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join("."));
const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
const fromInt = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
/** A well-formed IPv4 CIDR: a random address masked to a random prefix. */
const cidr4 = fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([ip, prefix]) => {
    const size = 2 ** (32 - prefix);
    return `${fromInt(Math.floor(toInt(ip) / size) * size)}/${prefix}`;
});
const range = (c: string) => {
    const [ip, p] = c.split("/");
    const start = toInt(ip);
    return [start, start + 2 ** (32 - Number(p)) - 1];
};
const parsed = (c: string) => {
    const r = parseCidr(c);
    if (!r.ok) throw new Error(`${c}: ${r.reason}`);
    return r.cidr;
};

test("every masked CIDR parses", () => {
    fc.assert(fc.property(cidr4, (c) => parseCidr(c).ok));
});

test("containment matches integer ranges", () => {
    fc.assert(
        fc.property(cidr4, cidr4, (a, b) => {
            const [as, ae] = range(a);
            const [bs, be] = range(b);
            expect(contains(parsed(a), parsed(b))).toBe(bs >= as && be <= ae);
        }),
    );
});

test("overlap is symmetric and matches integer ranges", () => {
    fc.assert(
        fc.property(cidr4, cidr4, (a, b) => {
            const [as, ae] = range(a);
            const [bs, be] = range(b);
            const expected = as <= be && bs <= ae;
            expect(overlaps(parsed(a), parsed(b))).toBe(expected);
            expect(overlaps(parsed(b), parsed(a))).toBe(expected);
        }),
    );
});

test("host bits are refused with the network address as the fix", () => {
    fc.assert(
        fc.property(ipv4, fc.integer({ min: 0, max: 31 }), (ip, prefix) => {
            const size = 2 ** (32 - prefix);
            const network = fromInt(Math.floor(toInt(ip) / size) * size);
            const r = parseCidr(`${ip}/${prefix}`);
            if (network === ip) expect(r.ok).toBe(true);
            else expect(r).toEqual({ ok: false, reason: `has host bits set; use the network address ${network}/${prefix}` });
        }),
    );
});

test.each(["10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "300.0.0.0/8", "fe80::/129", "", "a/b"])("%j is not a CIDR", (c) => {
    expect(parseCidr(c).ok).toBe(false);
});

test("IPv6 pools work too", () => {
    expect(contains(parsed("fd00:10:244::/48"), parsed("fd00:10:244:1::/64"))).toBe(true);
    expect(overlaps(parsed("fd00:10:244::/48"), parsed("10.244.0.0/16"))).toBe(false);
});
