import { Problem, itemKey, problem } from "../problems";
import type { ParsedConfig } from "../schema";

const REGION = /^[a-z]{2}-[a-z0-9]+(-[a-z0-9]+)*$/;
const INSTANCE_ID = /^i-[a-z0-9]+$/;

export type RouteTablePick = { ok: true; routeTableId: string } | { ok: false; problem: Problem };

/**
 * Picks the route table of a VPC from the route-table look-up, the one aliyun check config alone can't
 * make. Only an unambiguous answer is taken: with several tables, the right one is the table of the
 * nodes' vSwitches, which only the user knows.
 */
export function pickRouteTable(vpcId: string, region: string, tables: { routeTableId: string }[]): RouteTablePick {
    const ids = tables.map((t) => t.routeTableId).sort();
    if (ids.length === 1) return { ok: true, routeTableId: ids[0] };
    if (ids.length === 0) {
        return {
            ok: false,
            problem: problem(
                "aliyun.vpcId",
                vpcId,
                `has no route table in region ${region}; check the VPC id and aliyun.region, or set aliyun.routeTableId.`,
            ),
        };
    }
    return {
        ok: false,
        problem: problem(
            "aliyun.vpcId",
            vpcId,
            `has ${ids.length} route tables (${ids.join(", ")}), so the one to use is ambiguous; set aliyun.routeTableId to the table associated with the nodes' vSwitches.`,
        ),
    };
}

/**
 * Alibaba Cloud non-tunnel mode: one VPC route entry per node. Only what routes add is checked here;
 * node podCidr syntax, containment and overlap are the node rules' job, host-local/spiderpool needs the IPAM rules'.
 */
export function aliyunRules(cfg: ParsedConfig): Problem[] {
    const a = cfg.aliyun;
    if (!a.enabled) return [];
    const out: Problem[] = [];

    if (a.region === undefined) {
        out.push(problem("aliyun.region", undefined, "is required with aliyun.enabled; set the region of the VPC, e.g. cn-hangzhou."));
    } else if (!REGION.test(a.region)) {
        out.push(problem("aliyun.region", a.region, "is not an Alibaba Cloud region id; use the id, e.g. cn-hangzhou."));
    }
    if (a.routeTableId === undefined && a.vpcId === undefined) {
        out.push(
            problem(
                "aliyun.routeTableId",
                undefined,
                "the route table is missing; set aliyun.routeTableId (vtb-...), or aliyun.vpcId (vpc-...) when that VPC has a single route table.",
            ),
        );
    }
    if (a.routeTableId !== undefined && a.vpcId !== undefined) {
        out.push(
            problem(
                "aliyun.vpcId",
                a.vpcId,
                "is set together with aliyun.routeTableId; remove one, since either names the table and they could disagree.",
            ),
        );
    }
    if (a.routeTableId !== undefined && !/^vtb-[a-z0-9]+$/.test(a.routeTableId)) {
        out.push(problem("aliyun.routeTableId", a.routeTableId, "is not a route table id; use the vtb-... id from the VPC console."));
    }
    if (a.vpcId !== undefined && !/^vpc-[a-z0-9]+$/.test(a.vpcId)) {
        out.push(problem("aliyun.vpcId", a.vpcId, "is not a VPC id; use the vpc-... id from the VPC console."));
    }
    if (a.routeQuota < 1) {
        out.push(
            problem("aliyun.routeQuota", a.routeQuota, "must be at least 1; use the route table's custom route quota (200 by default)."),
        );
    } else if (cfg.nodes.length > a.routeQuota) {
        out.push(
            problem(
                "aliyun.routeQuota",
                a.routeQuota,
                `${cfg.nodes.length} nodes need ${cfg.nodes.length} route entries, more than the quota of ${a.routeQuota}; raise the route table's quota in the Quota Center and set aliyun.routeQuota to match, or use a tunnel mode (IPIP or VXLAN), which needs no routes.`,
            ),
        );
    }

    // The VPC carries pod packets as they are; an encapsulating pool would hide them behind node addresses.
    cfg.pools.forEach((pool, i) => {
        const key = itemKey("pools", pool, i);
        for (const mode of ["ipipMode", "vxlanMode"] as const) {
            if (pool[mode] === "Never") continue;
            if (mode === "vxlanMode" && cfg.cni.ipam === "host-local") continue; // the IPAM rules already refuse it
            out.push(
                problem(
                    `${key}.${mode}`,
                    pool[mode],
                    `is a tunnel mode, but aliyun.enabled routes pods through VPC route entries instead (non-tunnel mode); set ${mode} Never, or set aliyun.enabled false to keep the tunnel, which needs no VPC routes.`,
                ),
            );
        }
    });

    if (cfg.cni.ipam === "calico-ipam") {
        out.push(
            problem(
                "cni.ipam",
                cfg.cni.ipam,
                "calico-ipam hands out addresses in blocks that are not tied to one node, so one VPC route per node can't cover them; set cni.ipam to host-local or spiderpool, which take each node's pods from its podCidr.",
            ),
        );
    }

    const owners = new Map<string, string>();
    cfg.nodes.forEach((node, i) => {
        const key = itemKey("nodes", node, i);
        // host-local and spiderpool need podCidr anyway, and the IPAM rules ask for it then.
        if (node.podCidr === undefined && cfg.cni.ipam === "calico-ipam") {
            out.push(
                problem(
                    `${key}.podCidr`,
                    undefined,
                    `is the destination of node ${node.name}'s VPC route; set it to the node's spec.podCIDR (kubectl get node ${node.name} -o jsonpath='{.spec.podCIDR}').`,
                ),
            );
        }
        if (node.instanceId === undefined) {
            out.push(
                problem(
                    `${key}.instanceId`,
                    undefined,
                    `node ${node.name} has no ECS instance id, the next hop of its VPC route; set it to the instance's i-... id (ECS console, or http://100.100.100.200/latest/meta-data/instance-id on the node).`,
                ),
            );
        } else if (!INSTANCE_ID.test(node.instanceId)) {
            out.push(
                problem(
                    `${key}.instanceId`,
                    node.instanceId,
                    `is not an ECS instance id; use the i-... id of node ${node.name}'s instance.`,
                ),
            );
        } else {
            const other = owners.get(node.instanceId);
            if (other !== undefined) {
                out.push(
                    problem(
                        `${key}.instanceId`,
                        node.instanceId,
                        `is also the instance id of nodes[${other}]; give each node its own ECS instance id.`,
                    ),
                );
            } else {
                owners.set(node.instanceId, node.name);
            }
        }
    });
    return out;
}
