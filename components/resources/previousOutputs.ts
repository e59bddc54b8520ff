import * as pulumi from "@pulumi/pulumi";
import { POOLS_OUTPUT, asPreviousPools } from "../builders/ippool";
import type { PreviousPool } from "../config/types";

/**
 * This stack, fully qualified: a bare stack name would resolve against the user's default organization.
 * A StackReference to it reads the outputs of the stack's last update (nothing on a first run).
 */
export function thisStackName(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/**
 * The pools this stack's last update exported (the `pools` output), awaited so index.ts can refuse an
 * in-place edit before it registers any Calico resource (config/rules/poolHistory.ts). A StackReference
 * is a read: it changes nothing, and `pulumi preview` resolves it as `up` does. A stack that never
 * exported the output, or a first run, gives [].
 */
export async function readPreviousPools(): Promise<PreviousPool[]> {
    const self = new pulumi.StackReference(`${POOLS_OUTPUT}-previous`, { name: thisStackName() });
    const details = await self.getOutputDetails(POOLS_OUTPUT);
    return asPreviousPools(details.value ?? details.secretValue);
}
