// Calico resources as an operator exports them: `kubectl get ... -o yaml` (a
// List, crd.projectcalico.org/v1) or `calicoctl get -o yaml` (several
// documents, or a List, projectcalico.org/v3). Pure: file texts in, resources
// out, each able to say where any of its fields is written (file, line,
// column), so that every refusal of the importer names its place.
import { isMap, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { type FieldPath, formatPath } from '../config/yaml-source.js';
import type { Problem } from '../errors.js';

export const KINDS = ['GlobalNetworkPolicy', 'HostEndpoint', 'FelixConfiguration'] as const;
export type Kind = (typeof KINDS)[number];
const API_VERSIONS = ['projectcalico.org/v3', 'crd.projectcalico.org/v1'];

export interface CalicoResource {
  kind: Kind;
  name: string;
  /** The resource as plain data. */
  body: Record<string, unknown>;
  /** A problem placed at `path` inside this resource (relative to the resource). */
  at(path: FieldPath, message: string): Problem;
}

function positioned(file: string, lines: LineCounter, root: Node, base: FieldPath) {
  return (path: FieldPath, message: string): Problem => {
    // The deepest node of the path that exists: a missing field is reported where its parent is.
    let node: Node | null = root;
    for (const key of [...base, ...path]) {
      const next: unknown = isMap(node) || isSeq(node) ? node.get(key as never, true) : undefined;
      if (!next || typeof next !== 'object') break;
      node = next as Node;
    }
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = lines.linePos(offset);
    return { message, where: { file, line, col, field: formatPath(path) } };
  };
}

/** Reads the resources of one file; problems (YAML syntax, unknown kinds, API versions) are added to `problems`. */
export function readCalicoFile(file: string, text: string, problems: Problem[]): CalicoResource[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const out: CalicoResource[] = [];
  const docList = Array.isArray(docs) ? docs : [docs];
  for (const doc of docList) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      problems.push({ message: `not valid YAML: ${e.message.split('\n')[0]}`, where: { file, line, col, field: '' } });
    }
    if (doc.errors.length) continue;
    const data = doc.toJS() as unknown;
    if (data === null || data === undefined) continue;
    const root = doc.contents as Node;
    const at = positioned(file, lines, root, []);
    if (typeof data !== 'object' || Array.isArray(data)) {
      problems.push(at([], 'not a Kubernetes resource (a mapping with kind and apiVersion)'));
      continue;
    }
    const d = data as Record<string, unknown>;
    const items: { body: unknown; base: FieldPath }[] =
      d.kind === 'List' || d.kind?.toString().endsWith('List')
        ? (Array.isArray(d.items) ? d.items : []).map((body, i) => ({ body, base: ['items', i] }))
        : [{ body: d, base: [] }];
    for (const { body, base } of items) {
      const where = positioned(file, lines, root, base);
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        problems.push(where([], 'not a Kubernetes resource'));
        continue;
      }
      const r = body as Record<string, unknown>;
      const kind = r.kind as string;
      if (!KINDS.includes(kind as Kind)) {
        problems.push(
          where(
            ['kind'],
            `${JSON.stringify(kind)} cannot be imported: give GlobalNetworkPolicy, HostEndpoint and FelixConfiguration resources (a NetworkPolicy is namespaced: it polices pods, not hosts)`,
          ),
        );
        continue;
      }
      if (!API_VERSIONS.includes(r.apiVersion as string)) {
        problems.push(where(['apiVersion'], `${JSON.stringify(r.apiVersion)}: expected ${API_VERSIONS.join(' or ')}`));
        continue;
      }
      const name = ((r.metadata as Record<string, unknown> | undefined)?.name as string | undefined) ?? '';
      if (!name) {
        problems.push(where(['metadata'], 'the resource has no metadata.name'));
        continue;
      }
      out.push({ kind: kind as Kind, name, body: r, at: where });
    }
  }
  return out;
}
