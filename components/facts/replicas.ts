/**
 * Typha replica count the Tigera operator picks for a cluster of `nodes` schedulable nodes: one fewer
 * than the nodes in tiny clusters (room to reschedule with Typha's host port taken), then one per 200 nodes
 * plus one spare, never fewer than three.
 */
export function expectedTyphaReplicas(nodes: number): number {
    if (!Number.isInteger(nodes) || nodes < 0) throw new RangeError(`node count must be a non-negative integer, not ${nodes}`);
    if (nodes <= 2) return 1;
    if (nodes <= 4) return 2;
    return Math.max(3, Math.floor(nodes / 200) + 2);
}
