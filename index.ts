import { Calico } from "./components/calico";
import { checkPoolHistory, loadConfig } from "./components/config/load";
import { skipUnreadPromiseStacks } from "./components/promiseStacks";
import { readPreviousOutputs } from "./components/resources/previousOutputs";

// Half the CPU at 1000 nodes otherwise (components/promiseStacks.ts).
skipUnreadPromiseStacks();

// Pulumi runs the exported function and exports the object it resolves to as the stack outputs.
export = async () => {
    // Every config key is read and validated here, before any resource is registered.
    const config = loadConfig();
    // Then this stack's last outputs (one StackReference read, awaited): a pool whose cidr or blockSize
    // changed in place is refused before any Calico resource is registered, in preview too.
    const previous = await readPreviousOutputs();
    await checkPoolHistory(config, previous.pools);
    const calico = new Calico("calico", { config, previous });
    const o = calico.outputs;

    return {
        calicoVersion: o.calicoVersion,
        // Read back by the next run (readPreviousOutputs): name, cidr, blockSize and disabled of every pool.
        pools: o.pools,
        nodes: o.nodes,
        cniKubeconfig: o.cniKubeconfig,
        cniClientCert: o.cniClientCert,
        cniDelivery: o.cniDelivery,
        calicoctlConfig: o.calicoctlConfig,
        podMtu: o.podMtu,
        // Workloads: Typha Service and replicas (empty and 0 without Typha), images in use, IP autodetection.
        typhaServiceName: o.typhaServiceName,
        typhaReplicas: o.typhaReplicas,
        images: o.images,
        ipAutodetectionMethod: o.ipAutodetectionMethod,
        // Set only when calico:aliyun.enabled: the route table and node → destination → next hop.
        aliyunRouteTableId: o.aliyunRouteTableId,
        aliyunRoutes: o.aliyunRoutes,
        // Set only with the etcd datastore: every IPPool and BGPPeer name applied with calicoctl. The next run
        // reads it back (readPreviousOutputs) to delete what config no longer has.
        calicoctlApplied: o.calicoctlApplied,
    };
};
