import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { CERT_SPECS, CertSpec, TYPHA_CA_CN, TYPHA_CA_USES } from "../builders/certs";

export interface CalicoPkiArgs {
    /** The cluster CA (key secret) that signs the CNI client cert; unset with `cni.delivery: daemonset`, which issues none. */
    clusterCa?: { certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> };
    /** RSA key size (`calico:pki.rsaBits`). */
    rsaBits: number;
    /** The calico-cni client key's algorithm (`calico:pki.cniKeyAlgorithm`); ECDSA is P-256. */
    cniKeyAlgorithm: "ECDSA" | "RSA";
    /** Certificate lifetime in hours. */
    validityHours: number;
    /** Hours before expiry at which `pulumi up` renews a certificate. */
    earlyRenewalHours: number;
}

export interface IssuedCert {
    certPem: pulumi.Output<string>;
    /** Secret. */
    keyPem: pulumi.Output<string>;
    /** The certificate resource itself, for ordering others after it (see CalicoNodeArgs.hostInputs). */
    resource: pulumi.Resource;
}

/** One side of Typha's mutual TLS: the CA both sides trust, and this side's certificate and key. */
export interface TlsIdentity {
    caPem: pulumi.Output<string>;
    certPem: pulumi.Output<string>;
    /** Secret. */
    keyPem: pulumi.Output<string>;
}

/**
 * Calico's certificates: the Typha CA, Typha's server cert, calico/node's client cert (both under the
 * Typha CA, for mutual TLS) and, given the cluster CA, the CNI plugin's client cert under it. Each
 * workload takes its own identity (`typha`, `node`) and builds its own Secret from it.
 */
export class CalicoPki extends pulumi.ComponentResource {
    /** Typha's server identity (CN calico-typha). */
    public readonly typha: TlsIdentity;
    /** calico/node's client identity toward Typha (CN calico-node). */
    public readonly node: TlsIdentity;
    /** The calico-cni client certificate and key (secret); unset without the cluster CA. */
    public readonly cni?: IssuedCert;

    constructor(name: string, args: CalicoPkiArgs, opts?: pulumi.ComponentResourceOptions) {
        // No inputs registered (see Calico): here they would put the cluster CA key in this component's state.
        super("calico:index:Pki", name, {}, opts);
        const { rsaBits, validityHours: validityPeriodHours, earlyRenewalHours } = args;
        const key = (stem: string, algorithm: "ECDSA" | "RSA") =>
            new tls.PrivateKey(`${name}-${stem}-key`, algorithm === "RSA" ? { algorithm, rsaBits } : { algorithm, ecdsaCurve: "P256" }, {
                parent: this,
            });

        const caKey = key("typha-ca", "RSA");
        const ca = new tls.SelfSignedCert(
            `${name}-typha-ca`,
            {
                privateKeyPem: caKey.privateKeyPem,
                subject: { commonName: TYPHA_CA_CN },
                isCaCertificate: true,
                allowedUses: TYPHA_CA_USES,
                validityPeriodHours,
                earlyRenewalHours,
            },
            { parent: this },
        );

        const issue = (
            spec: CertSpec,
            caCertPem: pulumi.Input<string>,
            caPrivateKeyPem: pulumi.Input<string>,
            algorithm: "ECDSA" | "RSA",
        ): IssuedCert => {
            const k = key(spec.name, algorithm);
            const csr = new tls.CertRequest(
                `${name}-${spec.name}-csr`,
                { privateKeyPem: k.privateKeyPem, subject: { commonName: spec.commonName }, dnsNames: spec.dnsNames },
                { parent: this },
            );
            const cert = new tls.LocallySignedCert(
                `${name}-${spec.name}-cert`,
                {
                    certRequestPem: csr.certRequestPem,
                    caCertPem,
                    caPrivateKeyPem: pulumi.secret(caPrivateKeyPem),
                    allowedUses: spec.allowedUses,
                    validityPeriodHours,
                    earlyRenewalHours,
                },
                { parent: this },
            );
            return { certPem: cert.certPem, keyPem: pulumi.secret(k.privateKeyPem), resource: cert };
        };
        const typha = issue(CERT_SPECS.typha, ca.certPem, caKey.privateKeyPem, "RSA");
        const node = issue(CERT_SPECS.node, ca.certPem, caKey.privateKeyPem, "RSA");
        const clusterCa = args.clusterCa;
        this.cni = clusterCa ? issue(CERT_SPECS.cni, clusterCa.certPem, clusterCa.keyPem, args.cniKeyAlgorithm) : undefined;
        this.typha = { caPem: ca.certPem, certPem: typha.certPem, keyPem: typha.keyPem };
        this.node = { caPem: ca.certPem, certPem: node.certPem, keyPem: node.keyPem };

        this.registerOutputs({
            typhaCaCertPem: ca.certPem,
            typhaCertPem: typha.certPem,
            nodeCertPem: node.certPem,
            ...(this.cni ? { cniCertPem: this.cni.certPem } : {}),
        });
    }
}
