/** `npm run verify -- [--stack <name>] [--config-file <path>] [--json] [--perf] [--sample <n>]`. */
export interface Args {
    stack?: string;
    configFile?: string;
    json: boolean;
    perf: boolean;
    sample?: number;
    help: boolean;
}

export const USAGE = `usage: npm run verify -- [--stack <name>] [--config-file <path>] [--json] [--perf] [--sample <nodes>]
  --stack        the Pulumi stack (default: the selected one)
  --config-file  the stack's config file, when it is not Pulumi.<stack>.yaml (as for pulumi itself)
  --json         print the results as JSON instead of the table
  --perf         also measure ping RTT, iperf3 and HTTP, pod-to-pod against node-to-node
  --sample       probe at most this many nodes (default: calico:verify.sampleNodes)`;

export type ArgsParse = { ok: true; args: Args } | { ok: false; error: string };

export function parseArgs(argv: string[]): ArgsParse {
    const args: Args = { json: false, perf: false, help: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]!;
        const [flag, inline] =
            a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
        const value = () => {
            const v = inline ?? argv[++i];
            if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
            return v;
        };
        try {
            switch (flag) {
                case "--stack":
                case "-s":
                    args.stack = value();
                    break;
                case "--config-file":
                    args.configFile = value();
                    break;
                case "--json":
                    args.json = true;
                    break;
                case "--perf":
                    args.perf = true;
                    break;
                case "--sample": {
                    const v = value();
                    const n = Number(v);
                    if (!Number.isInteger(n) || n < 2) throw new Error(`--sample ${v}: give a whole number of nodes, at least 2`);
                    args.sample = n;
                    break;
                }
                case "--help":
                case "-h":
                    args.help = true;
                    break;
                default:
                    throw new Error(`unknown argument ${a}`);
            }
        } catch (e) {
            return { ok: false, error: (e as Error).message };
        }
    }
    return { ok: true, args };
}
