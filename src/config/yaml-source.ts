// A parsed YAML file that can say where every value came from, so that a
// validation error names the file, line and column of the offending field.
//
// Two parsers, for speed: js-yaml (fast, no positions) reads the file; only
// when something is wrong is it parsed again with `yaml`, which keeps every
// node's position. An inventory of 5,000 nodes loads about ten times faster
// this way, and error messages lose nothing.
import { createRequire } from 'node:module';
import jsyaml from 'js-yaml';
import type * as Yaml from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';
import { AfwError, type Problem, type SourcePosition } from '../errors.js';
import type { ChunkedYamlReader } from './yaml-chunks.js';

export type FieldPath = ReadonlyArray<string | number>;

export interface YamlSource {
  file: string;
  /** The plain JavaScript value of the document. */
  data: unknown;
  /** The document with positions, parsed on first use (error paths only). */
  positional(): { doc: Document; lines: LineCounter };
}

// `yaml` is loaded by the first error that needs a position, not at startup: a
// daemon whose files are valid never needs it, and a module once loaded is held
// for the process's life. Its Node build is CommonJS, so require() loads it at
// once (node's module cache keeps the one copy).
const load = createRequire(import.meta.url);
function yaml(): typeof Yaml {
  return load('yaml') as typeof Yaml;
}

function positionalParse(text: string): { doc: Document; lines: LineCounter } {
  const { LineCounter, parseDocument } = yaml();
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  return { doc, lines };
}

/** `a.b[2].c` */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

/**
 * A source for text already parsed by someone else (JSON state files are
 * YAML too): positions are computed only if an error needs them. The text may
 * be given as a function that makes it again (the same bytes each time), so a
 * source kept for long does not keep its text: a membership's is about half a
 * megabyte at 5,000 nodes and is needed only to point at a line.
 */
export function positionalSource(file: string, text: string | (() => string), data: unknown): YamlSource {
  let positional: { doc: Document; lines: LineCounter } | undefined;
  return {
    file,
    data,
    positional: () => {
      positional ??= positionalParse(typeof text === 'string' ? text : text());
      return positional;
    },
  };
}

/** Parses YAML text; syntax errors, an empty file and a non-mapping top level are refused. */
export function parseYaml(
  text: string,
  file: string,
  code: 'AFW_CONFIG_INVALID' | 'AFW_INVENTORY_INVALID' | 'AFW_KUBECONFIG_INVALID',
  reader?: ChunkedYamlReader,
): YamlSource {
  let data: unknown;
  let fastFailed = false;
  try {
    // An edit of a large inventory re-parses only the items it changed (see yaml-chunks.ts).
    data = reader?.read(text);
    // YAML 1.2 core schema, as `yaml` uses: no timestamps or other YAML 1.1 surprises.
    data ??= jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, filename: file });
  } catch {
    fastFailed = true;
  }
  const src = positionalSource(file, text, data);
  if (fastFailed) {
    const { doc } = src.positional();
    if (doc.errors.length === 0) {
      // Only js-yaml objected: trust the parser that can also point at lines.
      src.data = doc.toJS({ maxAliasCount: 100 });
    } else {
      const problems: Problem[] = doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        const firstLine = e.message.split('\n')[0] ?? e.message;
        return {
          message: `YAML syntax: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}`,
          where: { file, line: pos.line, col: pos.col, field: '' },
        };
      });
      throw new AfwError('AFW_YAML_SYNTAX', `${file}: invalid YAML`, { problems });
    }
  }
  if (src.data === null || src.data === undefined) {
    throw new AfwError(code, `${file}: the file is empty`, {
      problems: [
        { message: 'the file is empty: expected a mapping with apiVersion', where: { file, line: 1, col: 1, field: '' } },
      ],
    });
  }
  if (typeof src.data !== 'object' || Array.isArray(src.data)) {
    const { doc } = src.positional();
    const where = positionOf(src, doc.contents as Node, '');
    throw new AfwError(code, `${file}: not a mapping`, {
      problems: [{ message: 'expected a mapping (key: value) at the top of the file', where }],
    });
  }
  return src;
}

function positionOf(src: YamlSource, node: Node | null | undefined, field: string): SourcePosition {
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = src.positional().lines.linePos(offset);
  return { file: src.file, line, col, field };
}

/**
 * The position of the value at `path`, or of its key when `key` is set (used for
 * unknown fields). When the path does not exist in the document (a missing
 * field), the position of the deepest existing parent is returned.
 */
export function locate(src: YamlSource, path: FieldPath, opts: { key?: boolean } = {}): SourcePosition {
  const { isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = src.positional().doc.contents;
  let keyNode: unknown;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      keyNode = item;
      node = item;
    } else {
      break;
    }
  }
  const target = opts.key && keyNode ? keyNode : (node ?? keyNode);
  return positionOf(src, target as Node, formatPath(path));
}

export function problemAt(src: YamlSource, path: FieldPath, message: string, opts: { key?: boolean } = {}): Problem {
  return { message, where: locate(src, path, opts) };
}
