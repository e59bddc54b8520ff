import { expectedTyphaReplicas } from "../components/facts/replicas";
import { labRaw, resolvedConfig } from "./fixtures";

describe("Typha replicas follow the Tigera operator", () => {
    test.each([
        [0, 1],
        [1, 1],
        [2, 1],
        [3, 2],
        [4, 2],
        [5, 3],
        [199, 3],
        [200, 3],
        [399, 3],
        [400, 4],
        [1000, 7],
        [5000, 27],
    ])("%i nodes: %i replicas", (nodes, replicas) => {
        expect(expectedTyphaReplicas(nodes)).toBe(replicas);
    });

    test.each([-1, 2.5, Number.NaN])("rejects a node count of %p", (nodes) => {
        expect(() => expectedTyphaReplicas(nodes)).toThrow(`node count must be a non-negative integer, not ${nodes}`);
    });

    test("config resolves typha.replicas: the formula when unset, else the value, and 0 is Typha off", () => {
        const typha = (replicas?: number) => resolvedConfig({ ...labRaw(), typha: replicas === undefined ? {} : { replicas } }).typha;
        expect(typha()).toMatchObject({ enabled: true, replicas: expectedTyphaReplicas(labRaw().nodes.length) });
        expect(typha(3)).toMatchObject({ enabled: true, replicas: 3 });
        expect(typha(0)).toMatchObject({ enabled: false, replicas: 0 });
    });

    test("is monotonic and never exceeds the node count beyond one node", () => {
        let previous = 0;
        for (let n = 1; n <= 3000; n++) {
            const r = expectedTyphaReplicas(n);
            expect(r).toBeGreaterThanOrEqual(previous);
            if (n >= 2) expect(r).toBeLessThan(n);
            previous = r;
        }
    });
});
