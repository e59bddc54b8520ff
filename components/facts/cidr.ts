import * as ipaddr from "ipaddr.js";

/** CIDR maths on top of ipaddr.js: parsing with a reason, containment, overlap, the usable range. */

export interface Cidr {
    text: string;
    kind: "ipv4" | "ipv6";
    prefix: number;
    /** Bits in an address of this family (32 or 128). */
    bits: number;
    network: ipaddr.IPv4 | ipaddr.IPv6;
}

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

export function parseCidr(text: string): CidrParse {
    let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
        parsed = ipaddr.parseCIDR(text);
    } catch {
        return { ok: false, reason: "is not a CIDR; write it as address/prefix, e.g. 10.244.0.0/16" };
    }
    const [addr, prefix] = parsed;
    const kind = addr.kind();
    const bits = kind === "ipv4" ? 32 : 128;
    const network = kind === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(text) : ipaddr.IPv6.networkAddressFromCIDR(text);
    if (network.toString() !== addr.toString()) {
        return {
            ok: false,
            reason: `has host bits set; use the network address ${network.toString()}/${prefix}`,
        };
    }
    return { ok: true, cidr: { text, kind, prefix, bits, network } };
}

/** True when `inner` lies wholly inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
    if (outer.kind !== inner.kind || inner.prefix < outer.prefix) return false;
    return (inner.network as ipaddr.IPv4).match(outer.network as ipaddr.IPv4, outer.prefix);
}

/** Two CIDRs overlap exactly when one contains the other. */
export function overlaps(a: Cidr, b: Cidr): boolean {
    return contains(a, b) || contains(b, a);
}

/** Whether an IP address (v4 or v6) is valid. */
export function isIp(text: string): boolean {
    return ipaddr.isValid(text) && (ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text));
}

export function isIpv4(text: string): boolean {
    return ipaddr.IPv4.isValidFourPartDecimal(text);
}

/** Adds `delta` (±1) to an address, as bytes, carrying across them. */
function step(addr: ipaddr.IPv4 | ipaddr.IPv6, delta: 1 | -1): string {
    const bytes = addr.toByteArray();
    for (let i = bytes.length - 1; i >= 0; i--) {
        const v = bytes[i] + delta;
        bytes[i] = (v + 256) % 256;
        if (v >= 0 && v <= 255) break;
    }
    return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The usable addresses of a CIDR as one range `first-last` (Spiderpool's form): the network address and
 * (for IPv4) the broadcast address are left out. Undefined when the CIDR holds no usable address.
 */
export function usableRange(cidr: string): string | undefined {
    const [addr, prefix] = ipaddr.parseCIDR(cidr);
    const v4 = addr.kind() === "ipv4";
    const bits = v4 ? 32 : 128;
    if (bits - prefix < 2) return undefined;
    const network = v4 ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
    const last = v4 ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
    return `${step(network, 1)}-${v4 ? step(last, -1) : last.toString()}`;
}
