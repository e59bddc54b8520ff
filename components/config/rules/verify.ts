import { Problem, problem } from "../problems";
import type { ParsedConfig } from "../schema";
import { TYPHA_HEALTH_PORT, TYPHA_PORT, VERIFY_NAMESPACE } from "../../facts/names";
import { DEFAULT_REGISTRY, probeImage } from "../../versions";

/**
 * Probe pods carry their results in a termination message (4 KiB): a host probe with --perf has two ping
 * results (about 100 bytes each with long node names) per other node, so at most 12 nodes.
 */
export const MAX_SAMPLE_NODES = 12;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `npm run verify`'s probe settings, and the Typha metrics port it reads Felix connections from. */
export function verifyRules(cfg: ParsedConfig): Problem[] {
    const out: Problem[] = [];
    const v = cfg.verify;
    if (v.probeImage !== undefined && /\s/.test(v.probeImage)) {
        out.push(
            problem("verify.probeImage", v.probeImage, `has white space; give one image reference, e.g. ${probeImage(DEFAULT_REGISTRY)}.`),
        );
    }
    if (!DNS_LABEL.test(v.namespace)) {
        out.push(
            problem(
                "verify.namespace",
                v.namespace,
                `is not a Kubernetes namespace name; use lower-case letters, digits and '-', e.g. ${VERIFY_NAMESPACE}.`,
            ),
        );
    } else if (["kube-system", "kube-public", "kube-node-lease", "default"].includes(v.namespace)) {
        out.push(
            problem(
                "verify.namespace",
                v.namespace,
                `is a namespace verify would share with other workloads; use one of its own, e.g. ${VERIFY_NAMESPACE}.`,
            ),
        );
    }
    if (v.sampleNodes < 2 || v.sampleNodes > MAX_SAMPLE_NODES) {
        out.push(
            problem(
                "verify.sampleNodes",
                v.sampleNodes,
                `is out of range; use 2-${MAX_SAMPLE_NODES} (each probe's results must fit its 4 KiB termination message).`,
            ),
        );
    }
    if (v.timeoutSeconds < 10 || v.timeoutSeconds > 1800) {
        out.push(problem("verify.timeoutSeconds", v.timeoutSeconds, "is out of range; use 10-1800 seconds."));
    }
    if (v.perfSeconds < 1 || v.perfSeconds > 60) {
        out.push(problem("verify.perfSeconds", v.perfSeconds, "is out of range; use 1-60 seconds per iperf3 run."));
    }
    const port = cfg.typha.metricsPort;
    if (port !== 0 && (port < 1024 || port > 65535 || port === TYPHA_PORT || port === TYPHA_HEALTH_PORT)) {
        out.push(
            problem(
                "typha.metricsPort",
                port,
                `is not a free unprivileged port; use 1024-65535 other than ${TYPHA_PORT} and ${TYPHA_HEALTH_PORT} (Typha's own), or 0 to turn the metrics off.`,
            ),
        );
    }
    return out;
}
