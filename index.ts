import { Calico } from "./components/calico";
import { loadConfig } from "./components/config/load";
import { skipUnreadPromiseStacks } from "./components/promiseStacks";

// Half the CPU at 1000 nodes otherwise (components/promiseStacks.ts).
skipUnreadPromiseStacks();

// Every config key is read and validated here, before any resource is registered.
const config = loadConfig();
const calico = new Calico("calico", { config });

export const calicoVersion = calico.outputs.calicoVersion;
export const pools = calico.outputs.pools;
export const nodes = calico.outputs.nodes;
export const cniKubeconfig = calico.outputs.cniKubeconfig;
export const cniClientCert = calico.outputs.cniClientCert;
export const cniDelivery = calico.outputs.cniDelivery;
export const calicoctlConfig = calico.outputs.calicoctlConfig;
export const podMtu = calico.outputs.podMtu;
// Workloads: Typha Service and replicas (empty and 0 without Typha), images in use, IP autodetection.
export const typhaServiceName = calico.outputs.typhaServiceName;
export const typhaReplicas = calico.outputs.typhaReplicas;
export const images = calico.outputs.images;
export const ipAutodetectionMethod = calico.outputs.ipAutodetectionMethod;
// Set only when calico:aliyun.enabled: the route table and node → destination → next hop.
export const aliyunRouteTableId = calico.outputs.aliyunRouteTableId;
export const aliyunRoutes = calico.outputs.aliyunRoutes;
// Set only with the etcd datastore: every IPPool and BGPPeer name applied with calicoctl. The next run
// reads it back (a StackReference to this stack) to delete what config no longer has.
export const calicoctlApplied = calico.outputs.calicoctlApplied;
