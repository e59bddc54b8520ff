import { isIp, isIpv4, parseCidr } from "../../facts/cidr";
import { RR_PEER_NAMES } from "../../facts/names";
import { parseSelector } from "../../facts/selector";
import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";
import { selectorProblem } from "./network";

const MAX_AS = 4294967295;
const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function asProblem(key: string, value: number): Problem | undefined {
    return value < 1 || value > MAX_AS
        ? problem(key, value, `is not a BGP AS number; use 1-${MAX_AS} (private ranges: 64512-65534, 4200000000-4294967294).`)
        : undefined;
}

/** Whether config asks BGP for more than Calico's defaults: what only the bird backend can do. */
export function bgpInUse(cfg: ParsedConfig): boolean {
    const b = cfg.bgp;
    return (
        !b.nodeToNodeMesh ||
        b.peers.length > 0 ||
        b.serviceClusterIPs.length > 0 ||
        b.serviceExternalIPs.length > 0 ||
        cfg.nodes.some((n) => n.routeReflectorClusterId !== undefined)
    );
}

/** BGP: AS numbers, peers, route-reflector cluster IDs, advertised service ranges and a mesh-off safety net. */
export function bgpRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const b = cfg.bgp;
    const push = (p: Problem | undefined) => p && out.push(p);
    push(asProblem("bgp.asNumber", b.asNumber));

    const counts = new Map<string, number>();
    b.peers.forEach((peer, i) => {
        const key = itemKey("bgp.peers", peer, i);
        counts.set(peer.name, (counts.get(peer.name) ?? 0) + 1);
        if (!RESOURCE_NAME.test(peer.name)) {
            out.push(problem(`${key}.name`, peer.name, "is not a valid resource name; use lower-case letters, digits, '-' and '.'."));
        } else if ((Object.values(RR_PEER_NAMES) as string[]).includes(peer.name)) {
            out.push(problem(`${key}.name`, peer.name, "is the name of a route-reflector peer this program creates; pick another name."));
        }
        if (!isIp(peer.peerIP)) {
            out.push(problem(`${key}.peerIP`, peer.peerIP, "is not an IP address; give the router's address, e.g. 172.16.0.254."));
        }
        push(asProblem(`${key}.asNumber`, peer.asNumber));
        const sel = parseSelector(peer.nodeSelector);
        if (!sel.ok) out.push(selectorProblem(`${key}.nodeSelector`, peer.nodeSelector, sel.reason));
    });
    for (const [name, count] of counts) {
        if (count > 1) out.push(problem("bgp.peers", name, `peer name "${name}" is used ${count} times; give each peer its own name.`));
    }

    const reflectors = cfg.nodes.filter((n) => n.routeReflectorClusterId !== undefined);
    cfg.nodes.forEach((node, i) => {
        const id = node.routeReflectorClusterId;
        if (id !== undefined && !isIpv4(id)) {
            out.push(
                problem(
                    `${itemKey("nodes", node, i)}.routeReflectorClusterId`,
                    id,
                    "is not a dotted IPv4 cluster ID; use an unused address such as 244.0.0.1, the same on every reflector.",
                ),
            );
        }
    });
    if (!b.nodeToNodeMesh && reflectors.length === 0 && b.peers.length === 0) {
        out.push(
            problem(
                "bgp.nodeToNodeMesh",
                false,
                "turning the mesh off with no route reflectors and no BGP peers would cut every route between nodes; mark nodes with routeReflectorClusterId, add bgp.peers, or keep the mesh on.",
            ),
        );
    }

    for (const field of ["serviceClusterIPs", "serviceExternalIPs"] as const) {
        for (const cidr of b[field]) {
            const c = parseCidr(cidr);
            if (!c.ok) out.push(problem(`bgp.${field}`, cidr, `${c.reason}.`));
        }
    }

    const backend = cfg.calicoNode.backend;
    if (backend !== "bird" && bgpInUse(cfg)) {
        out.push(
            problem(
                "calicoNode.backend",
                backend,
                `BGP settings are configured (peers, route reflectors, mesh off or service advertisement) but only the bird backend runs BGP; set calicoNode.backend to bird or remove them.`,
            ),
        );
    }

    const f = cfg.felix;
    if (f.prometheusMetricsPort !== undefined) {
        if (f.prometheusMetricsPort < 1 || f.prometheusMetricsPort > 65535) {
            out.push(
                problem(
                    "felix.prometheusMetricsPort",
                    f.prometheusMetricsPort,
                    "is not a TCP port; use 1-65535 (Felix's default is 9091).",
                ),
            );
        } else if (f.prometheusMetricsEnabled !== true) {
            out.push(
                problem(
                    "felix.prometheusMetricsPort",
                    f.prometheusMetricsPort,
                    "is set but felix.prometheusMetricsEnabled is not true, so nothing listens on it; enable the metrics or remove the port.",
                ),
            );
        }
    }
    return out;
}
