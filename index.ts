import { Calico } from "./components/calico";
import { checkPoolHistory, loadConfig } from "./components/config/load";
import { skipUnreadPromiseStacks } from "./components/promiseStacks";
import { readPreviousOutputs } from "./components/resources/previousOutputs";

// The SDK's unread promise stacks would otherwise take a large share of the CPU (components/promiseStacks.ts).
skipUnreadPromiseStacks();

// Pulumi runs the exported function and exports the object it resolves to as the stack outputs.
export = async () => {
    // Every config key is read and validated here, before any resource is registered.
    const config = loadConfig();
    // Then this stack's last outputs (one StackReference read, awaited): a pool whose cidr or blockSize
    // changed in place is refused before any Calico resource is registered, in preview too.
    const previous = await readPreviousOutputs();
    await checkPoolHistory(config, previous.pools);
    // The component's outputs are the stack's (components/calico.ts: CalicoOutputs).
    return { ...new Calico("calico", { config, previous }).outputs };
};
