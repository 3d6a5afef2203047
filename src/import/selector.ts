// Calico's label selector language, as its documentation describes it:
// `all()`, `global()`, `has(k)`, `k == 'v'`, `k != 'v'`, `k in {'a', 'b'}`,
// `k not in {...}`, `k contains 's'`, `k starts with 's'`, `k ends with 's'`,
// `!`, `&&`, `||` and parentheses (`||` binds loosest, then `&&`, then `!`).
// Label keys are letters, digits and `_ . / -`. Pure: text in, a tree out,
// and the tree judged against a set of labels.

export type Selector =
  | { op: 'all' }
  | { op: 'global' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne' | 'contains' | 'starts' | 'ends'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'not'; of: Selector }
  | { op: 'and' | 'or'; of: [Selector, Selector] };

export class SelectorError extends Error {
  constructor(
    message: string,
    /** Offset in the selector text where it went wrong. */
    readonly offset: number,
  ) {
    super(message);
  }
}

type Token =
  | { kind: 'label' | 'string' | 'has'; value: string; at: number }
  | {
      kind:
        | '('
        | ')'
        | '{'
        | '}'
        | ','
        | '=='
        | '!='
        | '!'
        | '&&'
        | '||'
        | 'in'
        | 'notin'
        | 'contains'
        | 'starts'
        | 'ends'
        | 'all'
        | 'global'
        | 'eof';
      at: number;
    };

const IDENT = /^[A-Za-z0-9_./-]+/;
const MAX_LABEL = 512;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const rest = () => text.slice(i);
  const word = (w: string) => {
    const m = new RegExp(`^${w.replace(/ /g, '\\s*')}(?![A-Za-z0-9_./-])`).exec(rest());
    if (m) i += m[0].length;
    return !!m;
  };
  for (;;) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    const at = i;
    if (i >= text.length) {
      out.push({ kind: 'eof', at });
      return out;
    }
    const c = text[i]!;
    const two = text.slice(i, i + 2);
    if ('(){},'.includes(c)) {
      out.push({ kind: c as '(' | ')' | '{' | '}' | ',', at });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new SelectorError('a string is not closed', at);
      out.push({ kind: 'string', value: text.slice(i + 1, end), at });
      i = end + 1;
    } else if (two === '==' || two === '!=' || two === '&&' || two === '||') {
      out.push({ kind: two, at });
      i += 2;
    } else if (c === '!') {
      out.push({ kind: '!', at });
      i++;
    } else if (out.at(-1)?.kind === 'label') {
      // After a label: an operator word.
      if (word('contains')) out.push({ kind: 'contains', at });
      else if (word('starts with')) out.push({ kind: 'starts', at });
      else if (word('ends with')) out.push({ kind: 'ends', at });
      else if (word('not in')) out.push({ kind: 'notin', at });
      else if (word('in')) out.push({ kind: 'in', at });
      else throw new SelectorError(`expected an operator after the label "${(out.at(-1) as { value: string }).value}"`, at);
    } else if (/^has\s*\(/.test(rest())) {
      i += /^has\s*\(\s*/.exec(rest())![0].length;
      const m = IDENT.exec(rest());
      if (!m) throw new SelectorError('expected a label in has()', i);
      i += m[0].length;
      const close = /^\s*\)/.exec(rest());
      if (!close) throw new SelectorError("no closing ')' after has(", i);
      i += close[0].length;
      out.push({ kind: 'has', value: m[0], at });
    } else if (/^(all|global)\s*\(\s*\)/.test(rest())) {
      const m = /^(all|global)\s*\(\s*\)/.exec(rest())!;
      out.push({ kind: m[1] as 'all' | 'global', at });
      i += m[0].length;
    } else {
      const m = IDENT.exec(rest());
      if (!m) throw new SelectorError(`unexpected "${c}"`, at);
      if (m[0].length > MAX_LABEL) throw new SelectorError('label too long', at);
      out.push({ kind: 'label', value: m[0], at });
      i += m[0].length;
    }
  }
}

/** Parses a selector; an empty one is `all()`, as in Calico. Throws SelectorError with the offset. */
export function parseSelector(text: string): Selector {
  if (text.trim() === '') return { op: 'all' };
  const tokens = tokenize(text);
  let p = 0;
  const peek = () => tokens[p]!;
  const take = () => tokens[p++]!;
  const expect = (kind: Token['kind'], what: string) => {
    const t = take();
    if (t.kind !== kind) throw new SelectorError(`expected ${what}`, t.at);
    return t;
  };
  const str = () => (expect('string', 'a quoted string') as { value: string }).value;

  /** A chain of `next` joined by `op` (left to right): `||` over `&&` over the unary forms. */
  const chain = (token: '||' | '&&', op: 'or' | 'and', next: () => Selector) => (): Selector => {
    let left = next();
    while (peek().kind === token) {
      take();
      left = { op, of: [left, next()] };
    }
    return left;
  };
  const and = (): Selector => chain('&&', 'and', unary)();
  const or = chain('||', 'or', and);
  const unary = (): Selector => {
    const t = take();
    switch (t.kind) {
      case '!':
        return { op: 'not', of: unary() };
      case '(': {
        const inner = or();
        expect(')', "')'");
        return inner;
      }
      case 'all':
        return { op: 'all' };
      case 'global':
        return { op: 'global' };
      case 'has':
        return { op: 'has', key: t.value };
      case 'label': {
        const key = t.value;
        const o = take();
        switch (o.kind) {
          case '==':
            return { op: 'eq', key, value: str() };
          case '!=':
            return { op: 'ne', key, value: str() };
          case 'contains':
            return { op: 'contains', key, value: str() };
          case 'starts':
            return { op: 'starts', key, value: str() };
          case 'ends':
            return { op: 'ends', key, value: str() };
          case 'in':
          case 'notin': {
            expect('{', "'{'");
            const values: string[] = [];
            if (peek().kind !== '}') {
              values.push(str());
              while (peek().kind === ',') {
                take();
                values.push(str());
              }
            }
            expect('}', "'}'");
            return { op: o.kind, key, values };
          }
          default:
            throw new SelectorError(`expected ==, !=, in, not in, contains, starts with or ends with after "${key}"`, o.at);
        }
      }
      default:
        throw new SelectorError(t.kind === 'eof' ? 'the selector ends too early' : `unexpected "${t.kind}"`, t.at);
    }
  };
  const tree = or();
  const end = peek();
  if (end.kind !== 'eof')
    throw new SelectorError(`unexpected "${'value' in end ? end.value : end.kind}" after a complete selector`, end.at);
  return tree;
}

/** Whether `labels` satisfy the selector (a missing label is never equal to anything; `!=` and `not in` hold for it). */
export function selects(s: Selector, labels: Readonly<Record<string, string>>): boolean {
  switch (s.op) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return s.key in labels;
    case 'eq':
      return labels[s.key] === s.value;
    case 'ne':
      return labels[s.key] !== s.value;
    case 'contains':
      return s.key in labels && labels[s.key]!.includes(s.value);
    case 'starts':
      return s.key in labels && labels[s.key]!.startsWith(s.value);
    case 'ends':
      return s.key in labels && labels[s.key]!.endsWith(s.value);
    case 'in':
      return s.key in labels && s.values.includes(labels[s.key]!);
    case 'notin':
      return !(s.key in labels && s.values.includes(labels[s.key]!));
    case 'not':
      return !selects(s.of, labels);
    case 'and':
      return selects(s.of[0], labels) && selects(s.of[1], labels);
    case 'or':
      return selects(s.of[0], labels) || selects(s.of[1], labels);
  }
}

/** The label keys a selector looks at. */
export function selectorKeys(s: Selector): Set<string> {
  const keys = new Set<string>();
  const walk = (x: Selector): void => {
    if ('key' in x) keys.add(x.key);
    if (x.op === 'not') walk(x.of);
    if (x.op === 'and' || x.op === 'or') x.of.forEach(walk);
  };
  walk(s);
  return keys;
}
