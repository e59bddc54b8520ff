import { buildProgram, find, recorded } from "./harness";
import fc from "fast-check";
import * as fs from "fs";
import { parseAllDocuments } from "yaml";
import spec from "../components/facts/felixConfigurationSpec.json";
import { FELIX_OWNED_FIELDS } from "../components/facts/felixFields";
import { type SchemaNode, closest, goRegExp, validateSchema } from "../components/config/jsonSchema";
import { calicoNodeEnv, type CalicoNodeParams } from "../components/builders/calicoNode";
import { RESOURCES_CONFIGMAP, RESOURCES_KEY } from "../components/builders/calicoctlApply";
import { Dataplanes, KubeProxyModes } from "../components/config/schema";
import { schemaErrors, unknownSpecKeys } from "./crdSchema";
import { CRDS_FILE, Mutate, TEST_CERT_PEM, TEST_KEY_PEM, labRaw, labSecrets, problemsOf, resolvedConfig } from "./fixtures";
import { TABLE_FILE, felixSpecTable } from "./felixSpecTable";

const FIELDS = spec.fields as Record<string, SchemaNode>;
const felixConfiguration = (s: Record<string, unknown>) => ({
    apiVersion: "crd.projectcalico.org/v1",
    kind: "FelixConfiguration",
    metadata: { name: "default" },
    spec: s,
});

describe("the FelixConfiguration table", () => {
    test("is exactly what the pinned crds.yaml defines, without descriptions (regenerate: test/felixSpecTable.ts)", () => {
        expect(JSON.parse(fs.readFileSync(TABLE_FILE, "utf8"))).toEqual(felixSpecTable(fs.readFileSync(CRDS_FILE, "utf8")));
        expect(Object.keys(FIELDS).length).toBeGreaterThan(150);
    });

    test("every keyword it uses is one the validator implements", () => {
        const used = new Set<string>();
        const walk = (s: SchemaNode) => {
            for (const [k, v] of Object.entries(s)) {
                used.add(k);
                if (k === "properties") Object.values(v as Record<string, SchemaNode>).forEach(walk);
                if (k === "items" || k === "additionalProperties") walk(v as SchemaNode);
                if (k === "allOf" || k === "anyOf") (v as SchemaNode[]).forEach(walk);
            }
        };
        Object.values(FIELDS).forEach(walk);
        const implemented = [
            "type",
            "enum",
            "pattern",
            "format",
            "minimum",
            "maximum",
            "maxLength",
            "items",
            "properties",
            "additionalProperties",
            "required",
            "allOf",
            "anyOf",
            "default",
            "x-kubernetes-int-or-string",
        ];
        expect([...used].filter((k) => !implemented.includes(k))).toEqual([]);
    });
});

/** Values for a field: mostly of its type (enum members, strings the pattern takes), some of any JSON type. */
function valueArb(s: SchemaNode, depth = 0): fc.Arbitrary<unknown> {
    const junk = fc.oneof(
        fc.string(),
        fc.integer(),
        fc.boolean(),
        fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 2 }),
    );
    const typed: fc.Arbitrary<unknown>[] = [];
    if (s.enum) typed.push(fc.constantFrom(...s.enum));
    for (const sub of [...(s.allOf ?? []), ...(s.anyOf ?? [])]) typed.push(valueArb(sub, depth));
    if (s.pattern !== undefined) {
        try {
            typed.push(fc.stringMatching(goRegExp(s.pattern)));
        } catch {
            // fast-check cannot generate for every regex; plain strings still exercise the pattern.
        }
    }
    switch (s.type) {
        case "string":
            typed.push(fc.string());
            break;
        case "integer":
            typed.push(fc.integer({ min: (s.minimum ?? -5) - 2, max: (s.maximum ?? 70000) + 2 }), fc.maxSafeInteger());
            break;
        case "boolean":
            typed.push(fc.boolean());
            break;
        case "array":
            if (s.items && depth < 3) typed.push(fc.array(valueArb(s.items, depth + 1), { maxLength: 3 }));
            break;
        case "object":
            if (depth < 3 && s.properties) {
                const props = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, valueArb(v, depth + 1)]));
                typed.push(fc.record(props, { requiredKeys: [] }));
            }
            if (depth < 3 && s.additionalProperties)
                typed.push(fc.dictionary(fc.string({ minLength: 1 }), valueArb(s.additionalProperties, depth + 1), { maxKeys: 3 }));
            break;
    }
    return typed.length > 0 ? fc.oneof({ arbitrary: fc.oneof(...typed), weight: 4 }, { arbitrary: junk, weight: 1 }) : junk;
}

describe("the validator agrees with ajv on the pinned CRD, field by field", () => {
    test.each(Object.keys(FIELDS).filter((f) => f !== "nodeSelector"))("%s", (field) => {
        fc.assert(
            fc.property(valueArb(FIELDS[field]!), (value) => {
                const ours = validateSchema(FIELDS[field]!, value).length === 0;
                const theirs = schemaErrors(felixConfiguration({ [field]: value })).length === 0;
                return ours === theirs;
            }),
            { numRuns: 60 },
        );
    });
});

describe("felix.settings validation", () => {
    const withSettings =
        (settings: Record<string, unknown>): Mutate =>
        (r) => {
            r.felix = { settings };
        };
    test.each<[string, Mutate, string[]]>([
        [
            "a misspelt field, with the nearest name",
            withSettings({ bpfEnabld: true }),
            [
                "calico:felix.settings.bpfEnabld = true: is not a FelixConfiguration field in Calico v3.32.1 (did you mean bpfEnabled?); fix the spelling or remove it (`kubectl explain felixconfigurations.spec` lists the fields).",
            ],
        ],
        [
            "a field with nothing close",
            withSettings({ turboMode: "on" }),
            [
                'calico:felix.settings.turboMode = "on": is not a FelixConfiguration field in Calico v3.32.1; fix the spelling or remove it (`kubectl explain felixconfigurations.spec` lists the fields).',
            ],
        ],
        [
            "the wrong type",
            withSettings({ bpfLogLevel: 3 }),
            [
                "calico:felix.settings.bpfLogLevel = 3: must be a string, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.",
            ],
        ],
        [
            "a value outside the enum",
            withSettings({ bpfConntrackMode: "Kernel" }),
            [
                'calico:felix.settings.bpfConntrackMode = "Kernel": must be one of Auto, Userspace, BPFProgram, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.',
            ],
        ],
        [
            "a value the pattern refuses (featureDetectOverride wants name=true|false pairs)",
            withSettings({ featureDetectOverride: "ChecksumOffloadBroken:yes" }),
            [
                'calico:felix.settings.featureDetectOverride = "ChecksumOffloadBroken:yes": does not match the pattern ^([a-zA-Z0-9-_]+=(true|false|),)*([a-zA-Z0-9-_]+=(true|false|))?$, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.',
            ],
        ],
        [
            "nested: an unknown key and a missing required one",
            withSettings({ routeTableRange: { min: 1, maxx: 250 } }),
            [
                "calico:felix.settings.routeTableRange.max = (unset): is required, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.",
                "calico:felix.settings.routeTableRange.maxx = 250: is not a field here; use one of max, min, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.",
            ],
        ],
        [
            "a list item",
            withSettings({ failsafeInboundHostPorts: [{ protocol: "tcp", port: 22 }, { protocol: "udp" }] }),
            [
                "calico:felix.settings.failsafeInboundHostPorts[1].port = (unset): is required, as the FelixConfiguration CRD of Calico v3.32.1 requires; fix the value or remove it.",
            ],
        ],
        [
            "a field the dataplane key owns",
            withSettings({ bpfEnabled: true }),
            ["calico:felix.settings.bpfEnabled = true: is set by calicoNode.dataplane; use that key instead and remove this one."],
        ],
        [
            "a field WireGuard owns",
            withSettings({ wireguardEnabled: true }),
            ["calico:felix.settings.wireguardEnabled = true: is set by felix.wireguard.ipv4; use that key instead and remove this one."],
        ],
        [
            "a field calico-node's env sets",
            withSettings({ defaultEndpointToHostAction: "Drop" }),
            [
                'calico:felix.settings.defaultEndpointToHostAction = "Drop": is set by calico-node\'s env, which Felix ranks above the FelixConfiguration, so this value would be ignored; remove it.',
            ],
        ],
        [
            "nodeSelector, which the default FelixConfiguration may not have",
            withSettings({ nodeSelector: "all()" }),
            [
                'calico:felix.settings.nodeSelector = "all()": must not be set on the default FelixConfiguration, which applies to every node; remove it.',
            ],
        ],
    ])("%s", (_name, mutate, expected) => {
        expect(problemsOf(mutate)).toEqual(expected);
    });

    test("the examples in docs/styles.md pass: the VXLAN checksum offload workaround (calico#3145) and a few knobs", () => {
        expect(
            problemsOf(
                withSettings({
                    featureDetectOverride: "ChecksumOffloadBroken=true",
                    bpfLogLevel: "Debug",
                    routeTableRange: { min: 1, max: 250 },
                    failsafeInboundHostPorts: [{ protocol: "tcp", port: 22 }],
                    iptablesBackend: "NFT",
                }),
            ),
        ).toEqual([]);
    });

    test("closest finds a case slip or a typo, not an unrelated name", () => {
        expect(closest("BPFENABLED", Object.keys(FIELDS))).toBe("bpfEnabled");
        expect(closest("wireguardMtu", Object.keys(FIELDS))).toBe("wireguardMTU");
        expect(closest("x", Object.keys(FIELDS))).toBeUndefined();
    });
});

describe("the fields felix.settings may not set", () => {
    const base: CalicoNodeParams = {
        image: "n",
        backend: "bird",
        ipAutodetectionMethod: "first-found",
        ipv6: true,
        dataplane: { dataplane: "bpf", kubeProxy: "removed" },
        usePodCidr: false,
        mtu: 1440,
        datastore: { type: "kubernetes" },
        typhaServiceName: "calico-typha",
        certHash: "",
        serviceAccountName: "calico-node",
    };
    // Felix's parameter for a FELIX_ variable is the CRD field upper-cased, except IPIP's older name.
    const ALIASES: Record<string, string> = { IPINIPMTU: "ipipMTU" };
    const byUpper = new Map(Object.keys(FIELDS).map((f) => [f.toUpperCase(), f]));

    test.each(Dataplanes.flatMap((d) => KubeProxyModes.map((k) => [d, k] as const)))(
        "cover every FELIX_ variable calico-node gets that is a FelixConfiguration field (%s, kube-proxy %s)",
        (dataplane, kubeProxy) => {
            for (const ipv6 of [false, true]) {
                const env = calicoNodeEnv({ ...base, ipv6, dataplane: { dataplane, kubeProxy } });
                const fields = env
                    .filter((e) => e.name.startsWith("FELIX_"))
                    .map((e) => ALIASES[e.name.slice(6)] ?? byUpper.get(e.name.slice(6)))
                    .filter((f): f is string => f !== undefined);
                expect(fields.length).toBeGreaterThan(6);
                expect(fields.filter((f) => !(f in FELIX_OWNED_FIELDS))).toEqual([]);
            }
        },
    );

    test("are all FelixConfiguration fields", () => {
        expect(Object.keys(FELIX_OWNED_FIELDS).filter((f) => !(f in FIELDS))).toEqual([]);
    });
});

describe("felix.settings reach the default FelixConfiguration", () => {
    const settings = { featureDetectOverride: "ChecksumOffloadBroken=true", bpfLogLevel: "Debug", routeTableRange: { min: 1, max: 250 } };

    test("as the CRD patch on the Kubernetes datastore, next to the program's own fields, valid for the CRD", async () => {
        const raw: any = labRaw();
        raw.felix = { logSeverity: "Warning", settings };
        await buildProgram(resolvedConfig(raw));
        const obj = find("kubernetes:crd.projectcalico.org/v1:FelixConfigurationPatch", "felixconfiguration-default").inputs;
        expect(obj.spec).toEqual({ ...settings, logSeverityScreen: "Warning" });
        const asCr = { ...obj, kind: "FelixConfiguration" };
        expect([schemaErrors(asCr), unknownSpecKeys(asCr)]).toEqual([[], []]);
    });

    test("in the calicoctl documents on etcd", async () => {
        const raw: any = labRaw();
        raw.felix = { settings };
        raw.datastore = { type: "etcd", etcdEndpoints: ["https://172.16.0.11:2379"] };
        await buildProgram(
            resolvedConfig(raw, { ...labSecrets(), etcdCaCert: TEST_CERT_PEM, etcdCert: TEST_CERT_PEM, etcdKey: TEST_KEY_PEM }),
        );
        const docs = recorded
            .filter((r) => r.name === RESOURCES_CONFIGMAP)
            .flatMap((r) => parseAllDocuments(String(r.inputs.data[RESOURCES_KEY])).map((d) => d.toJS()));
        expect(docs.find((d) => d.kind === "FelixConfiguration")?.spec).toEqual(settings);
    });
});
