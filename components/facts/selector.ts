/**
 * Calico's label selector grammar (libcalico-go lib/selector), to refuse a selector calico-node would
 * refuse at run time. Only parses; matching is Calico's job.
 *
 *   selector := or EOF                      (empty or blank: all())
 *   or       := and ("||" and)*
 *   and      := unary ("&&" unary)*
 *   unary    := "!" unary | "(" or ")" | all() | global() | has(label)
 *             | label ("==" | "!=" | contains | starts with | ends with) string
 *             | label ("in" | "not in") "{" [string ("," string)*] "}"
 */

/** The selector of every node: a pool's and a BGP peer's default. */
export const ALL_NODES = "all()";

export type SelectorParse = { ok: true } | { ok: false; reason: string };

type Kind = "label" | "string" | "op" | "set-op" | "all" | "has" | "not" | "and" | "or" | "(" | ")" | "{" | "}" | "," | "eof";

interface Token {
    kind: Kind;
    text: string;
    at: number;
}

const LABEL = /^[a-zA-Z0-9_./-]{1,512}/;
// Longest first: `!=` before `!`, `not in` before a label called `not`.
const PATTERNS: [Kind, RegExp][] = [
    ["op", /^(==|!=)/],
    ["not", /^!/],
    ["and", /^&&/],
    ["or", /^\|\|/],
    ["(", /^\(/],
    [")", /^\)/],
    ["{", /^\{/],
    ["}", /^\}/],
    [",", /^,/],
    ["string", /^("[^"]*"|'[^']*')/],
    ["all", /^all\(\s*\)/],
    ["all", /^global\(\s*\)/],
    ["has", /^has\(\s*[a-zA-Z0-9_./-]{1,512}\s*\)/],
    ["set-op", /^(not\s*in|in)\b/],
    ["op", /^(contains|starts\s*with|ends\s*with)\b/],
    ["label", LABEL],
];

function tokenize(text: string): Token[] | { reason: string } {
    const out: Token[] = [];
    let at = 0;
    while (at < text.length) {
        const rest = text.slice(at);
        const space = /^\s+/.exec(rest);
        if (space) {
            at += space[0].length;
            continue;
        }
        const hit = PATTERNS.map(([kind, re]) => ({ kind, m: re.exec(rest) })).find((p) => p.m !== null);
        if (!hit || !hit.m) return { reason: `unexpected "${rest[0]}" at character ${at + 1}` };
        out.push({ kind: hit.kind, text: hit.m[0], at });
        at += hit.m[0].length;
    }
    out.push({ kind: "eof", text: "", at });
    return out;
}

class Parser {
    private i = 0;
    constructor(private readonly tokens: Token[]) {}

    private get next(): Token {
        return this.tokens[this.i];
    }

    /** The next token's kind, read afresh (a getter's narrowing would outlive `this.i++`). */
    private peek(): Kind {
        return this.tokens[this.i].kind;
    }

    private expect(kind: Kind, what: string): void {
        if (this.next.kind !== kind) throw this.error(what);
        this.i++;
    }

    error(what: string): Error {
        const t = this.next;
        return new Error(t.kind === "eof" ? `expected ${what} at the end` : `expected ${what} at character ${t.at + 1}, not "${t.text}"`);
    }

    selector(): void {
        if (this.next.kind === "eof") return;
        this.or();
        if (this.peek() !== "eof") throw this.error("&&, || or the end");
    }

    private or(): void {
        this.and();
        while (this.next.kind === "or") {
            this.i++;
            this.and();
        }
    }

    private and(): void {
        this.unary();
        while (this.next.kind === "and") {
            this.i++;
            this.unary();
        }
    }

    private unary(): void {
        const t = this.next;
        switch (t.kind) {
            case "not":
                this.i++;
                return this.unary();
            case "(":
                this.i++;
                this.or();
                return this.expect(")", '")"');
            case "all":
            case "has":
                this.i++;
                return;
            case "label":
                this.i++;
                return this.comparison();
            default:
                throw this.error("all(), has(label), a label comparison, ! or (");
        }
    }

    private comparison(): void {
        const op = this.next;
        if (op.kind === "op") {
            this.i++;
            return this.expect("string", "a quoted value");
        }
        if (op.kind !== "set-op") throw this.error("==, !=, in, not in, contains, starts with or ends with");
        this.i++;
        this.expect("{", '"{"');
        if (this.next.kind === "string") {
            this.i++;
            while (this.peek() === ",") {
                this.i++;
                this.expect("string", "a quoted value");
            }
        }
        this.expect("}", '"}"');
    }
}

export function parseSelector(text: string): SelectorParse {
    const tokens = tokenize(text);
    if (!Array.isArray(tokens)) return { ok: false, reason: tokens.reason };
    try {
        new Parser(tokens).selector();
        return { ok: true };
    } catch (e) {
        return { ok: false, reason: (e as Error).message };
    }
}
