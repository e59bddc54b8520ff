import { CALICO_NODE, KUBE_SYSTEM, TYPHA_METRICS_PORT, TYPHA_PORT } from "../../components/facts/names";
import type { PodFact } from "../facts";
import { type CheckResult, result } from "../types";

/** One Typha replica's Felix connections, from its metrics (typha_connections_streaming{syncer="felix"}). */
export interface TyphaReplicaFact {
    pod: string;
    node: string;
    /** Undefined when the metrics could not be read; `error` says why. */
    felix?: number;
    error?: string;
}

export interface TyphaFacts {
    enabled: boolean;
    metricsPort: number;
    replicas: TyphaReplicaFact[];
    calicoNodePods: PodFact[];
}

/** Typha serves as many Felix connections as there are calico-node pods running. */
export function checkTypha(f: TyphaFacts): CheckResult {
    if (!f.enabled) return result("Typha", "skip", "Typha is not deployed (typha.enabled, replicas 0 or the etcd datastore)");
    const running = f.calicoNodePods.filter((p) => p.phase === "Running").length;
    if (f.metricsPort === 0) {
        return result(
            "Typha",
            "warn",
            `${f.replicas.length} replicas; Felix connections not counted`,
            [],
            `set typha.metricsPort (default ${TYPHA_METRICS_PORT}) and run \`pulumi up\`, so verify can read Typha's connection count.`,
        );
    }
    const details: string[] = [];
    let felix = 0;
    for (const r of [...f.replicas].sort((a, b) => a.pod.localeCompare(b.pod))) {
        if (r.felix === undefined) details.push(`${r.pod} on ${r.node}: metrics not read: ${r.error ?? "unknown"}`);
        else felix += r.felix;
    }
    const per = f.replicas.map((r) => `${r.pod}=${r.felix ?? "?"}`).join(", ");
    const figures = `${felix} Felix connections for ${running} calico-node pods (${per || "no Typha pod"})`;
    if (f.replicas.length === 0) details.push("no Typha pod runs");
    else if (details.length === 0 && felix !== running) {
        details.push(`Typha serves ${felix} Felix connections, ${running} calico-node pods run`);
    }
    if (details.length === 0) return result("Typha", "pass", figures);
    return result(
        "Typha",
        "fail",
        figures,
        details,
        `a Felix without a Typha connection logs it: \`kubectl -n ${KUBE_SYSTEM} logs <${CALICO_NODE} pod> -c ${CALICO_NODE} | grep -i typha\`; check TCP ${TYPHA_PORT} between the nodes and that the Typha and node certificates verify (see Certificates).`,
    );
}
