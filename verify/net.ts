import * as ipaddr from "ipaddr.js";

/** Address maths for the checks: an address inside a CIDR, and the smallest CIDR holding every address given. */

export function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
    try {
        return ipaddr.parse(text);
    } catch {
        return undefined;
    }
}

/** `10.244.1.5` in `10.244.0.0/18`; false for malformed input or mixed families. */
export function ipIn(ip: string, cidr: string): boolean {
    const a = parseIp(ip);
    let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
        range = ipaddr.parseCIDR(cidr);
    } catch {
        return false;
    }
    if (!a || a.kind() !== range[0].kind()) return false;
    return (a as ipaddr.IPv4).match(range as [ipaddr.IPv4, number]);
}

/** The address part of Calico's `projectcalico.org/IPv4Address` annotation (`172.30.0.11/24`). */
export function addressOf(withPrefix: string): string {
    return withPrefix.split("/")[0] ?? withPrefix;
}

/** The smallest IPv4 CIDR that holds every address (for an ipAutodetectionMethod suggestion). */
export function coveringCidr(ips: string[]): string | undefined {
    const v4 = ips.map(parseIp).filter((a): a is ipaddr.IPv4 => a?.kind() === "ipv4");
    if (v4.length === 0 || v4.length !== ips.length) return undefined;
    const nums = v4.map((a) => a.toByteArray().reduce((n, b) => n * 256 + b, 0));
    for (let prefix = 32; prefix >= 0; prefix--) {
        const size = 2 ** (32 - prefix);
        const base = Math.floor(nums[0]! / size) * size;
        if (nums.every((n) => Math.floor(n / size) * size === base)) {
            const bytes = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256);
            return `${bytes.join(".")}/${prefix}`;
        }
    }
    return undefined;
}
