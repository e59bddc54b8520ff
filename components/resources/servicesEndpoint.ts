import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { buildServicesEndpointConfigMap } from "../builders/dataplane";
import { SERVICES_ENDPOINT_CONFIGMAP } from "../facts/names";

/** The `kubernetes-services-endpoint` ConfigMap, and its data for the pod template hashes of its consumers. */
export interface ServicesEndpoint {
    configMap: k8s.core.v1.ConfigMap;
    /** Its data, hashed into each consumer's pod template: env from a ConfigMap changes only on a restart. */
    hashed: Record<string, string>;
}

/**
 * With the eBPF dataplane, the API server's address for calico-node, Typha and kube-controllers
 * (builders/dataplane.ts), which take it through an optional envFrom. Their pods wait for it, and roll
 * when it changes.
 */
export function servicesEndpoint(apiServer: string, opts: pulumi.CustomResourceOptions): ServicesEndpoint {
    const obj = buildServicesEndpointConfigMap(apiServer);
    const configMap = new k8s.core.v1.ConfigMap(SERVICES_ENDPOINT_CONFIGMAP, obj, opts);
    return {
        configMap,
        hashed: { [SERVICES_ENDPOINT_CONFIGMAP]: `${obj.data.KUBERNETES_SERVICE_HOST}:${obj.data.KUBERNETES_SERVICE_PORT}` },
    };
}
