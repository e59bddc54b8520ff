import { contains, isIp, overlaps, parseCidr, Cidr } from "../../facts/cidr";
import { sshTarget } from "../derive";
import { Problem, SECRET_VALUE, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";
import type { ConfigEnv, RawSecrets } from "../types";

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Node list rules: names, SSH reachability settings and the node podCIDRs. */
export function nodeRules(cfg: ParsedConfig, secrets: RawSecrets, env: ConfigEnv): Problem[] {
    // Hidden per-node keys: which nodes they name is not known, only that the map is set.
    const perNodeHidden = env.secretValuesHidden && secrets.sshPrivateKeys !== undefined;
    const out: Problem[] = [];
    // With cni.delivery daemonset the cluster delivers to its own nodes; the list carries per-node settings only.
    const ssh = cfg.cni.delivery === "ssh";
    if (ssh && cfg.nodes.length === 0) {
        out.push(problem("nodes", cfg.nodes, "no nodes; list every Kubernetes node with its name and SSH address."));
    }
    const counts = new Map<string, number>();
    const podCidrs: { key: string; cidr: Cidr }[] = [];
    const targets = new Map<string, string>();
    const agentNodes: string[] = [];
    const pod = parseCidr(cfg.cluster.podCidr);
    cfg.nodes.forEach((node, i) => {
        const key = itemKey("nodes", node, i);
        counts.set(node.name, (counts.get(node.name) ?? 0) + 1);
        if (!DNS1123.test(node.name) || node.name.length > 253) {
            out.push(problem(`${key}.name`, node.name, "is not a Kubernetes node name; use the name `kubectl get nodes` shows."));
        }
        if (node.address.trim() === "") {
            out.push(
                problem(`${key}.address`, node.address, "is empty; give the IP or host name the program reaches this node at over SSH."),
            );
        }
        const ia = node.internalAddress;
        if (ia !== undefined && !isIp(ia) && !DNS1123.test(ia)) {
            out.push(
                problem(
                    `${key}.internalAddress`,
                    ia,
                    "is not an IP address or host name; give the address other nodes reach this one at (its InternalIP), or remove it to use address.",
                ),
            );
        }
        const { port } = sshTarget(cfg, node);
        if (port < 1 || port > 65535) {
            out.push(problem(`${key}.port`, port, "is not a TCP port; use 1-65535 (22 is the SSH default)."));
        }
        // Two nodes on one SSH target would write both nodes' files to one host, the second's nodename last.
        const target = `${node.address.trim()}:${port}`;
        const other = targets.get(target);
        if (node.address.trim() !== "" && other !== undefined) {
            out.push(
                problem(
                    `${key}.address`,
                    node.address,
                    `with port ${port} is also the SSH address of nodes[${other}]; give each node the address of its own host.`,
                ),
            );
        } else {
            targets.set(target, node.name);
        }
        const hasKey = perNodeHidden || secrets.sshPrivateKeys?.[node.name] !== undefined || secrets.sshPrivateKey !== undefined;
        if (ssh && !hasKey && !cfg.ssh.useAgent) {
            out.push(
                problem(
                    "sshPrivateKey",
                    undefined,
                    `node ${node.name} has no SSH key; set one with \`pulumi config set --secret calico:sshPrivateKey < key\`, add it to calico:sshPrivateKeys, or set calico:ssh.useAgent true.`,
                ),
            );
        }
        if (ssh && !hasKey && cfg.ssh.useAgent) agentNodes.push(node.name);
        if (node.podCidr !== undefined) {
            const c = parseCidr(node.podCidr);
            if (!c.ok) {
                out.push(problem(`${key}.podCidr`, node.podCidr, `${c.reason}.`));
            } else {
                if (pod.ok && !contains(pod.cidr, c.cidr)) {
                    out.push(
                        problem(
                            `${key}.podCidr`,
                            node.podCidr,
                            `is outside cluster.podCidr ${cfg.cluster.podCidr}; use the podCIDR Kubernetes gave this node.`,
                        ),
                    );
                }
                for (const other of podCidrs) {
                    if (overlaps(other.cidr, c.cidr)) {
                        out.push(
                            problem(
                                `${key}.podCidr`,
                                node.podCidr,
                                `overlaps ${other.key}.podCidr ${other.cidr.text}; each node needs its own range.`,
                            ),
                        );
                    }
                }
                podCidrs.push({ key, cidr: c.cidr });
            }
        }
    });
    for (const [name, count] of counts) {
        if (count > 1) out.push(problem("nodes", name, `node name "${name}" is listed ${count} times; list each node once.`));
    }
    // verify (secret values hidden) reads the config and never connects over SSH.
    if (agentNodes.length > 0 && !env.secretValuesHidden && env.sshAuthSock === undefined) {
        out.push(
            problem(
                "ssh.useAgent",
                true,
                `SSH_AUTH_SOCK is not set where pulumi runs, so ${agentNodes.join(", ")} (no SSH key) cannot authenticate; start an agent holding the key in that shell (\`eval "$(ssh-agent)"; ssh-add <key>\`), or set one with \`pulumi config set --secret calico:sshPrivateKey < key\`.`,
            ),
        );
    }
    const names = new Set(cfg.nodes.map((n) => n.name));
    for (const extra of perNodeHidden ? [] : Object.keys(secrets.sshPrivateKeys ?? {})) {
        if (!names.has(extra)) {
            out.push(problem(`sshPrivateKeys.${extra}`, SECRET_VALUE, `names no node in calico:nodes; remove it or fix the node name.`));
        }
    }
    return out;
}
