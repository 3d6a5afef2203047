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

interface Line {
  start: number;
  /** Offset of the first character that is not a space (the line's end when there is none). */
  text: number;
  end: number;
}

/** Walks the lines of `text` without copying them. */
function* lines(text: string): Generator<Line> {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let t = start;
    while (t < end && text.charCodeAt(t) === 32) t++;
    yield { start, text: t, end };
    start = end + 1;
  }
}

const isBlankOrComment = (text: string, l: Line) => l.text === l.end || text[l.text] === '#';
const isItemStart = (text: string, l: Line) => text[l.text] === '-' && (l.text + 1 === l.end || text[l.text + 1] === ' ');

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
  for (const l of lines(text)) {
    const c = text[l.text];
    // Tabs in indentation, document markers, directives: leave it to the full parser.
    if (
      c === '\t' ||
      (l.text === l.start && (c === '%' || ((c === '-' || c === '.') && DOC_MARKER.test(text.slice(l.start, l.start + 4)))))
    ) {
      return undefined;
    }
    if (l.start <= keyStart) continue;
    if (isBlankOrComment(text, l)) continue; // rides along with the item before it
    const at = l.text - l.start;
    if (indent < 0) {
      if (!isItemStart(text, l)) return undefined;
      indent = at;
      itemStart = l.start;
    } else if (at === indent && isItemStart(text, l)) {
      items.push(text.slice(itemStart, l.start));
      itemStart = l.start;
    } else if (at <= indent) {
      seqEnd = l.start; // back at a key of the top-level mapping
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
  private items = new Map<string, unknown>();
  /**
   * Items whose shape was checked and found good: an item read again from the
   * same text is the same frozen object, so the check holds. (Only this is kept:
   * keeping each node's derived facts too saved ~7 ms a read at 5,000 nodes but
   * held 3 MB more heap, which slowed every garbage collection after.)
   */
  readonly checked = new WeakSet<object>();
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

    const next = new Map<string, unknown>();
    const values: unknown[] = [];
    let parsed = 0;
    for (const item of cut.items) {
      let value: unknown;
      if (next.has(item)) value = next.get(item);
      else if (this.items.has(item)) value = this.items.get(item);
      else {
        if (SPECIAL.test(item)) return this.forget();
        let one: unknown;
        try {
          one = jsyaml.load(item, OPTIONS);
        } catch {
          return this.forget();
        }
        if (!Array.isArray(one) || one.length !== 1) return this.forget();
        value = deepFreeze(one[0]);
        parsed++;
      }
      next.set(item, value);
      values.push(value);
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
