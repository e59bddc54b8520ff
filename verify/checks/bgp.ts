import type { Backend } from "../../components/config/schema";
import type { DatastoreType } from "../../components/facts/names";
import { addressOf } from "../net";
import type { NodeFact, NodeStatusFact } from "../facts";
import { type CheckResult, result } from "../types";

export interface BgpFacts {
    backend: Backend;
    datastore: DatastoreType;
    /** Full mesh on and no route reflector: then every node peers with every other node's address. */
    fullMesh: boolean;
    nodes: NodeFact[];
    statuses: NodeStatusFact[];
    waitedSeconds: number;
}

/** Every BGP session of every node, from Calico's own API (CalicoNodeStatus), is Established. */
export function checkBgp(f: BgpFacts): CheckResult {
    if (f.backend !== "bird") return result("BGP", "skip", `calicoNode.backend is ${f.backend}: no BGP`);
    if (f.datastore !== "kubernetes") {
        return result(
            "BGP",
            "skip",
            "etcd datastore: CalicoNodeStatus is not a Kubernetes object there; run `calicoctl node status` on each node",
        );
    }
    const details: string[] = [];
    let established = 0;
    let total = 0;
    const addressOfNode = new Map(f.nodes.flatMap((n) => (n.calicoAddress ? [[n.name, addressOf(n.calicoAddress)] as const] : [])));
    for (const s of [...f.statuses].sort((a, b) => a.node.localeCompare(b.node))) {
        if (!s.reported) {
            details.push(
                `${s.node}: no CalicoNodeStatus report within ${f.waitedSeconds}s (calico-node's status reporter is not running there)`,
            );
            continue;
        }
        if (s.birdState !== undefined && s.birdState !== "Ready") details.push(`${s.node}: BIRD is ${s.birdState}`);
        for (const p of [...s.peers].sort((a, b) => a.peerIP.localeCompare(b.peerIP))) {
            total++;
            if (p.state === "Established") established++;
            else
                details.push(
                    `${s.node} -> ${p.peerIP} (${p.type}): ${p.state || "not Established (Calico reports no state)"}${p.since ? ` since ${p.since}` : ""}`,
                );
        }
        if (f.fullMesh) {
            const peers = new Set(s.peers.map((p) => p.peerIP));
            for (const [other, ip] of [...addressOfNode].sort()) {
                if (other !== s.node && !peers.has(ip)) details.push(`${s.node} -> ${ip} (${other}): no session (full mesh)`);
            }
        }
    }
    const figures = `${established}/${total} sessions Established on ${f.statuses.filter((s) => s.reported).length}/${f.statuses.length} nodes`;
    if (details.length === 0) return result("BGP", "pass", figures);
    return result(
        "BGP",
        "fail",
        figures,
        details,
        "a session stuck in Active or Connect usually means a wrong node address (see Node addresses) or TCP 179 blocked between the nodes; open TCP 179 between the node addresses, or fix calicoNode.ipAutodetectionMethod and run `pulumi up`.",
    );
}
