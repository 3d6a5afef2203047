// The record of denied flows in the state dir (denied-flows.json): written at
// least once a minute while it changes and on stop, read at start. Checked
// like the other state files (state-files.ts): a schema for every field, and a
// hash of the record that must match. A damaged file is refused with its name,
// line and field; the agent then starts an empty record and goes on enforcing.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { readStateFile, writeChunksAtomic } from '../agent/state-files.js';
import type { Flow, RecordValue } from './record.js';

export const RECORD_FILE = 'denied-flows.json';
const FORMAT = 1;

const time = z.iso.datetime({ message: 'not an ISO 8601 time' });
const text = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\n\r\0]*$/, 'must be one line (no newline or NUL)');

const flowSchema = z.strictObject({
  direction: z.enum(['ingress', 'egress']),
  plane: text(40),
  peer: z.string().regex(/^[0-9a-fA-F.:]{2,45}$/, 'not an IP address'),
  proto: text(16),
  port: z.number().int().min(0).max(65535).nullable(),
  packets: z.number().int().min(1),
  firstSeen: time,
  lastSeen: time,
  rule: text(300),
});

const recordSchema = z.strictObject({
  since: time,
  overflow: z.number().int().min(0),
  overflowPackets: z.number().int().min(0),
  lastRefused: time.nullable(),
  flows: z.array(flowSchema),
});

const fileSchema = z.strictObject({
  format: z.literal(FORMAT),
  savedAt: time,
  node: text(253),
  hash: z.string().regex(/^[0-9a-f]{16}$/, 'not a hash (16 hex digits)'),
  record: recordSchema,
});

type StoredRecord = z.infer<typeof recordSchema>;

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (t: string) => Date.parse(t);

export function recordFile(stateDir: string): string {
  return path.join(stateDir, RECORD_FILE);
}

/** One flow as stored: the key order is the one the hash is computed over (JSON.stringify of the parsed record). */
function storedFlow(f: Flow): StoredRecord['flows'][number] {
  return {
    direction: f.direction,
    plane: f.plane,
    peer: f.peer,
    proto: f.proto,
    port: f.port,
    packets: f.packets,
    firstSeen: iso(f.firstSeen),
    lastSeen: iso(f.lastSeen),
    rule: f.rule,
  };
}

/** Text chunks of about this many characters are written at a time. */
const CHUNK = 64 * 1024;

/**
 * The file, piece by piece: a record of maxFlows keys is never one string in
 * memory (saved every 30 s under a flood, it would be the agent's peak). One
 * flow per line, so that an error points at its flow; the hash, of the
 * record's JSON as a reader parses it, is computed as the flows go by and
 * written last.
 */
function* recordText(node: string, head: Omit<RecordValue, 'flows'>, flows: Iterable<Flow>): Generator<string> {
  const hash = createHash('sha256');
  const headText = JSON.stringify({
    since: iso(head.since),
    overflow: head.overflow,
    overflowPackets: head.overflowPackets,
    lastRefused: head.lastRefused ? iso(head.lastRefused) : null,
  });
  const opening = `${headText.slice(0, -1)},"flows":[`;
  hash.update(opening);
  let out = `{\n"format": ${FORMAT},\n"savedAt": ${JSON.stringify(new Date().toISOString())},\n"node": ${JSON.stringify(node)},\n"record": ${opening}\n`;
  let first = true;
  for (const f of flows) {
    const line = JSON.stringify(storedFlow(f));
    hash.update(first ? line : `,${line}`);
    out += `${first ? '' : ',\n'}${line}`;
    first = false;
    if (out.length >= CHUNK) {
      yield out;
      out = '';
    }
  }
  hash.update(']}');
  yield `${out}\n]},\n"hash": "${hash.digest('hex').slice(0, 16)}"\n}\n`;
}

export async function saveRecord(
  stateDir: string,
  node: string,
  head: Omit<RecordValue, 'flows'>,
  flows: Iterable<Flow>,
): Promise<void> {
  await writeChunksAtomic(recordFile(stateDir), recordText(node, head, flows), { dirMode: 0o700, mode: 0o600 });
}

/** The saved record; undefined when there is none; AFW_STATE_CORRUPT (file, line, field) when it is damaged. */
export async function loadRecord(stateDir: string): Promise<RecordValue | undefined> {
  const stored = await readStateFile(recordFile(stateDir), fileSchema, [['hash', 'record']]);
  if (!stored) return undefined;
  const r = stored.record;
  return {
    since: ms(r.since),
    overflow: r.overflow,
    overflowPackets: r.overflowPackets,
    lastRefused: r.lastRefused ? ms(r.lastRefused) : 0,
    flows: r.flows.map((f) => ({ ...f, firstSeen: ms(f.firstSeen), lastSeen: ms(f.lastSeen) })),
  };
}
