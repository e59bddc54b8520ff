import { stringify } from "yaml";
import { CALICO_V3_API_VERSION, calicoDatastoreName } from "../facts/names";
import { sortKeys } from "./json";

export type CalicoctlDatastore =
    | { type: "kubernetes"; kubeconfigPath: string }
    | { type: "etcd"; endpoints: string[]; caFile: string; certFile: string; keyFile: string };

/** `/etc/calico/calicoctl.cfg` for the chosen datastore. */
export function buildCalicoctlConfig(d: CalicoctlDatastore): Record<string, unknown> {
    const spec =
        d.type === "kubernetes"
            ? { datastoreType: calicoDatastoreName("kubernetes"), kubeconfig: d.kubeconfigPath }
            : {
                  datastoreType: calicoDatastoreName("etcd"),
                  etcdEndpoints: d.endpoints.join(","),
                  etcdCACertFile: d.caFile,
                  etcdCertFile: d.certFile,
                  etcdKeyFile: d.keyFile,
              };
    return { apiVersion: CALICO_V3_API_VERSION, kind: "CalicoAPIConfig", metadata: {}, spec };
}

export function renderCalicoctlConfig(d: CalicoctlDatastore): string {
    return stringify(sortKeys(buildCalicoctlConfig(d)));
}
