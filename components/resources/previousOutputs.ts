import * as pulumi from "@pulumi/pulumi";
import { APPLIED_OUTPUT, type AppliedNames, asAppliedNames } from "../builders/calicoctlApply";
import { POOLS_OUTPUT, asPreviousPools } from "../builders/ippool";
import type { PreviousPool } from "../config/types";

/**
 * This stack, fully qualified: a bare stack name would resolve against the user's default organization.
 * A StackReference to it reads the outputs of the stack's last update (nothing on a first run).
 */
export function thisStackName(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** What the program reads back from this stack's last update. */
export interface PreviousOutputs {
    /** The `pools` output: name, cidr, blockSize and disabled of every pool ([] on a first run). */
    pools: PreviousPool[];
    /** The `calicoctlApplied` output (etcd datastore): the names the next calicoctl Job may prune. */
    calicoctlApplied: AppliedNames;
}

/**
 * The outputs of this stack's last update, read once through one StackReference and awaited before any
 * other resource registers: index.ts refuses an in-place pool edit with them (config/rules/poolHistory.ts),
 * and the calicoctl Job prunes with them. A second read later in the run would race the engine's
 * rewrite of this very checkpoint (the file backend then reads a half-written file). A StackReference
 * is a read: it changes nothing, and `pulumi preview` resolves it as `up` does.
 */
export async function readPreviousOutputs(): Promise<PreviousOutputs> {
    const self = new pulumi.StackReference(`${POOLS_OUTPUT}-previous`, { name: thisStackName() });
    const [pools, applied] = await Promise.all([self.getOutputDetails(POOLS_OUTPUT), self.getOutputDetails(APPLIED_OUTPUT)]);
    return {
        pools: asPreviousPools(pools.value ?? pools.secretValue),
        calicoctlApplied: asAppliedNames(applied.value ?? applied.secretValue),
    };
}
