import { CNI_USER, KUBE_SYSTEM, NODE_CLIENT_CN, TYPHA_SERVER_CN } from "../facts/names";

/** What each certificate is for. The PKI component turns these into tls resources; tests read them directly. */
export interface CertSpec {
    /** Resource name stem. */
    name: string;
    commonName: string;
    allowedUses: string[];
    dnsNames: string[];
    /** Signed by the Typha CA created here, or by the cluster CA from config. */
    signer: "typha-ca" | "cluster-ca";
}

export const TYPHA_CA_CN = "Calico Typha CA";
export const TYPHA_CA_USES = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"];

export const CERT_SPECS: Record<"typha" | "node" | "cni", CertSpec> = {
    typha: {
        name: "typha-server",
        commonName: TYPHA_SERVER_CN,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
        // The Service name, so Felix can also verify by host name if CN checks are relaxed.
        dnsNames: [TYPHA_SERVER_CN, `${TYPHA_SERVER_CN}.${KUBE_SYSTEM}.svc`],
        signer: "typha-ca",
    },
    node: {
        name: "node-client",
        commonName: NODE_CLIENT_CN,
        allowedUses: ["client_auth", "digital_signature", "key_encipherment"],
        dnsNames: [],
        signer: "typha-ca",
    },
    cni: {
        name: "cni-client",
        commonName: CNI_USER,
        allowedUses: ["client_auth", "digital_signature", "key_encipherment"],
        dnsNames: [],
        signer: "cluster-ca",
    },
};
