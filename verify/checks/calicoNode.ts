import { CALICO_NODE, KUBE_SYSTEM } from "../../components/facts/names";
import type { NodeFact, PodFact } from "../facts";
import { type CheckResult, result } from "../types";

export interface CalicoNodeFacts {
    nodes: NodeFact[];
    /** The calico-node DaemonSet's pods (label k8s-app=calico-node in kube-system). */
    pods: PodFact[];
    /** `calico:nodes` names: the hosts this stack delivers CNI files to. */
    configNodes: string[];
}

/**
 * calico-node is Ready on every Kubernetes Node, and every Node is Ready: a node without its conflist
 * reports the network plugin not ready there. Names each node that is not, with the reason.
 */
export function checkCalicoNode(f: CalicoNodeFacts): CheckResult {
    const details: string[] = [];
    let ready = 0;
    for (const n of [...f.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
        const pods = f.pods.filter((p) => p.node === n.name);
        const good = pods.find((p) => p.ready);
        if (good) ready++;
        else if (pods.length === 0)
            details.push(`${n.name}: no calico-node pod (the DaemonSet has not placed one there; check the node's taints)`);
        else for (const p of pods) details.push(`${n.name}: ${p.name} not Ready: ${p.reason}`);
        if (!n.ready) details.push(`${n.name}: Node not Ready: ${n.notReady}`);
    }
    const known = new Set(f.nodes.map((n) => n.name));
    const missing = f.configNodes.filter((n) => !known.has(n)).sort();
    for (const m of missing) details.push(`nodes[${m}]: in calico:nodes but not a Kubernetes Node`);
    const unconfigured = f.nodes
        .map((n) => n.name)
        .filter((n) => !f.configNodes.includes(n))
        .sort();
    for (const u of unconfigured)
        details.push(`${u}: a Kubernetes Node missing from calico:nodes, so this stack delivers no CNI files to it`);
    const figures = `${ready}/${f.nodes.length} nodes with calico-node Ready`;
    if (details.length === 0) return result("calico-node", "pass", figures);
    const failing = ready < f.nodes.length || f.nodes.some((n) => !n.ready);
    return result(
        "calico-node",
        failing ? "fail" : "warn",
        figures,
        details,
        failing
            ? `read the reason above: \`kubectl -n ${KUBE_SYSTEM} describe pod <pod>\` and \`kubectl -n ${KUBE_SYSTEM} logs <pod> -c ${CALICO_NODE}\`; a Node whose network plugin is not ready lacks its CNI files: run \`pulumi up\` again once SSH to it works.`
            : "list every Kubernetes Node in calico:nodes with its SSH address, and remove names that are no Node (`kubectl get nodes`).",
    );
}
