import type * as pulumi from "@pulumi/pulumi";
import type { CalicoImage } from "../versions";
import type { ParsedConfig } from "./schema";

/** Plaintext of the secret config keys, as the engine hands them to the program. Never logged. */
export interface RawSecrets {
    clusterCaKey?: string;
    sshPrivateKey?: string;
    sshPrivateKeys?: Record<string, string>;
    etcdCaCert?: string;
    etcdCert?: string;
    etcdKey?: string;
    /** `alicloud:accessKey` / `alicloud:secretKey`: the explicit alicloud provider does not read that namespace itself. */
    alicloudAccessKey?: string;
    alicloudSecretKey?: string;
}

/** What validation may ask of the world outside the config, injected so validation stays pure. */
export interface ConfigEnv {
    /** sha256 (hex) of a local file, or undefined when it does not exist. */
    fileSha256(path: string): string | undefined;
    /** Secret keys that were set in plaintext (without `--secret`). */
    plaintextSecretKeys: string[];
}

/** A binary for the CNI bin dir: copied from the Pulumi machine, or downloaded on the host. */
export type CniBinary =
    | { name: string; source: "local"; path: string; sha256: string }
    | { name: string; source: "download"; url: string; sha256: string; archiveMember?: string };

export interface Secrets {
    clusterCaKey?: pulumi.Input<string>;
    /** SSH private key per node name; undefined where the node authenticates through the agent. */
    sshKeys: Record<string, pulumi.Input<string> | undefined>;
    etcd?: { caCert: pulumi.Input<string>; cert: pulumi.Input<string>; key: pulumi.Input<string> };
    /** Alibaba Cloud credentials from `alicloud:*` config; unset ones fall back to the provider's environment. */
    alicloud?: { accessKey?: pulumi.Input<string>; secretKey?: pulumi.Input<string> };
}

/** Config after validation, with defaults applied and derived values computed once. */
export interface CalicoConfig extends ParsedConfig {
    images: Record<CalicoImage, string>;
    /** Pod (veth) MTU used in the conflist and in Felix. */
    mtu: number;
    /** Binaries for every node's CNI bin dir, sorted by name. */
    cniBinaries: CniBinary[];
    secrets: Secrets;
}
