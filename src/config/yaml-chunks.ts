// Incremental reading of a YAML file whose bulk is one top-level block
// sequence: the inventory, whose `nodes:` list has one item per node.
//
// Parsing 5,000 nodes of YAML costs about 40 ms, on every edit, although an edit
// usually touches one node. This reader cuts the sequence into its items by
// indentation, parses each item's text on its own and remembers the result by
// that text, so an edit re-parses only the items whose text changed.
//
// It only takes files it can cut with certainty; for anything else it returns
// undefined and the caller parses the whole file as before. It gives up on:
// CR line endings, tabs in indentation, document markers and directives,
// anchors, aliases, tags and merge keys (`& * ! <<` anywhere in an item), a
// `nodes:` line with anything but a comment after it, more than one `nodes`
// line, and any part that does not parse on its own. Comments and blank lines
// ride along with the item before them. Same parser, same options, same
// values: the tests compare it with a whole-file parse on generated files.
import jsyaml from 'js-yaml';

const OPTIONS = { schema: jsyaml.CORE_SCHEMA };
const SPECIAL = /[&*!]|<</;
const DOC_MARKER = /^(---|\.\.\.)(\s|$)/;

/**
 * The item texts of the top-level `key:` block sequence, and the rest of the
 * document with `key: []` in its place; undefined when the text is not one
 * this can cut with certainty.
 */
export function cutSequence(text: string, key: string): { head: string; items: string[] } | undefined {
  if (text.includes('\r')) return undefined;
  const keyAt = new RegExp(`^${key}\\s*:`, 'gm');
  const found = [...text.matchAll(keyAt)];
  if (found.length !== 1) return undefined;
  const keyStart = found[0]!.index;
  const keyEnd = text.indexOf('\n', keyStart) < 0 ? text.length : text.indexOf('\n', keyStart);
  if (!new RegExp(`^${key}:\\s*(#.*)?$`).test(text.slice(keyStart, keyEnd))) return undefined;

  const items: string[] = [];
  let indent = -1;
  let itemStart = -1;
  let seqEnd = text.length;
  // One pass over the lines, by offsets (no line strings, no generator: 30,000
  // lines at 5,000 nodes). `first` is each line's first character that is not a space.
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let first = start;
    while (first < end && text.charCodeAt(first) === 32) first++;
    const line = start;
    start = end + 1;
    const c = text[first];
    // Tabs in indentation, document markers, directives: leave it to the full parser.
    if (
      c === '\t' ||
      (first === line && (c === '%' || ((c === '-' || c === '.') && DOC_MARKER.test(text.slice(line, line + 4)))))
    ) {
      return undefined;
    }
    if (line <= keyStart || first === end || c === '#') continue; // blank and comment lines ride along with the item before
    const at = first - line;
    const itemStartHere = c === '-' && (first + 1 === end || text[first + 1] === ' ');
    if (indent < 0) {
      if (!itemStartHere) return undefined;
      indent = at;
      itemStart = line;
    } else if (at === indent && itemStartHere) {
      items.push(text.slice(itemStart, line));
      itemStart = line;
    } else if (at <= indent) {
      seqEnd = line; // back at a key of the top-level mapping
      break;
    }
  }
  if (itemStart < 0) return undefined;
  items.push(text.slice(itemStart, seqEnd));
  // Checks of the lines after the sequence still matter (tabs, markers): they are in the head, parsed whole.
  const head = `${text.slice(0, keyStart)}${key}: []\n${text.slice(seqEnd)}`;
  return { head, items };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export class ChunkedYamlReader {
  /** Parsed items by their text, as of the last read. Values are frozen: they are shared between reads. */
  private items = new Map<string, { value: unknown }>();
  /**
   * Items whose shape was checked and found good: an item read again from the
   * same text is the same frozen object, so the check holds. (Only this is kept:
   * keeping each node's derived facts too saved ~7 ms a read at 5,000 nodes but
   * held 3 MB more heap, which slowed every garbage collection after.)
   */
  readonly checked = new WeakSet<object>();
  /**
   * What a caller worked out from an item on its own (an inventory node's
   * checked roles and addresses), kept while the item is: by item, as `checked`.
   */
  readonly derived = new WeakMap<object, unknown>();
  /** Items parsed (not found in memory) by the last read, for tests and logs. */
  lastParsed = 0;

  constructor(private readonly key: string) {}

  /** The document's value, or undefined when the text is not one this reader can cut with certainty. */
  read(text: string): unknown {
    const cut = cutSequence(text, this.key);
    if (!cut) return this.forget();
    let head: unknown;
    try {
      head = jsyaml.load(cut.head, OPTIONS);
    } catch {
      return this.forget();
    }
    if (head === null || typeof head !== 'object' || Array.isArray(head)) return this.forget();
    const rest = head as Record<string, unknown>;
    if (!Array.isArray(rest[this.key]) || (rest[this.key] as unknown[]).length !== 0) return this.forget();

    const next = new Map<string, { value: unknown }>();
    const values: unknown[] = [];
    let parsed = 0;
    for (const item of cut.items) {
      let kept = this.items.get(item) ?? next.get(item);
      if (!kept) {
        if (SPECIAL.test(item)) return this.forget();
        let one: unknown;
        try {
          one = jsyaml.load(item, OPTIONS);
        } catch {
          return this.forget();
        }
        if (!Array.isArray(one) || one.length !== 1) return this.forget();
        kept = { value: deepFreeze(one[0]) };
        parsed++;
      }
      next.set(item, kept);
      values.push(kept.value);
    }
    this.items = next;
    this.lastParsed = parsed;
    rest[this.key] = values;
    return rest;
  }

  private forget(): undefined {
    this.items = new Map();
    this.lastParsed = 0;
    return undefined;
  }
}
