import { podMtuOverhead } from "../mtu";
import { Problem, problem } from "../problems";
import type { ParsedConfig } from "../schema";

/**
 * Felix's dataplane, kube-proxy beside it, WireGuard and the pod MTU they leave: the combinations
 * Calico's docs rule out, refused before anything is installed.
 */
export function dataplaneRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const { dataplane, kubeProxy } = cfg.calicoNode;
    if (kubeProxy === "removed" && dataplane !== "bpf") {
        out.push(
            problem(
                "calicoNode.kubeProxy",
                kubeProxy,
                `only the bpf dataplane takes kube-proxy's place (calicoNode.dataplane is ${dataplane}), so Services would stop working; keep kube-proxy (running) or set calicoNode.dataplane bpf.`,
            ),
        );
    }
    if (dataplane === "bpf" && cfg.datastore.type === "etcd") {
        out.push(
            problem(
                "calicoNode.dataplane",
                dataplane,
                "the eBPF dataplane needs the Kubernetes datastore (a requirement in Calico's eBPF docs), and datastore.type is etcd; use iptables or nftables with etcd, or datastore.type kubernetes.",
            ),
        );
    }

    const wg = cfg.felix.wireguard;
    if (wg.ipv6 && !cfg.calicoNode.ipv6) {
        out.push(
            problem(
                "felix.wireguard.ipv6",
                true,
                "encrypts IPv6 pod traffic, but calicoNode.ipv6 is false, so there is none; set calicoNode.ipv6 true (dual-stack) or remove it.",
            ),
        );
    }

    const mtu = cfg.cni.mtu;
    const overhead = podMtuOverhead(cfg);
    const max = cfg.cluster.networkMtu - overhead.bytes;
    // Out-of-range values are the CNI rules' to report.
    if (mtu !== undefined && mtu > max && mtu >= 576 && mtu <= 9000) {
        const less = overhead.by !== undefined ? ` less the ${overhead.bytes} bytes ${overhead.by} adds (${max})` : "";
        out.push(
            problem(
                "cni.mtu",
                mtu,
                `is more than cluster.networkMtu ${cfg.cluster.networkMtu}${less}, so full-sized pod packets would not fit; use at most ${max}, or leave it unset to derive it.`,
            ),
        );
    }
    return out;
}
