// The files the agent keeps in stateDir (last-known-good, pending trial,
// rolled-back trial) are input like any other: what they hold ends up in
// restore batches, so each is checked against a schema before use. Chain names
// must be artesca-fw's, set names carry our prefix, every spec and member is
// one line of plain text, the backend is one we know, and the content hash
// matches. A file that fails is refused with its name, line and field, and
// nothing of it is loaded.
//
// Files are written as indented JSON (so that an error can point at a line),
// through a temporary file that is fsynced before the rename, and the folder is
// fsynced after it: after a power cut the file is the old one or the new one.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { type Desired, desiredHash } from '../compile/desired.js';
import { CHAIN_PREFIX, MAX_CHAIN_NAME, MAX_SET_NAME, SET_PREFIX } from '../compile/ruleset.js';
import { positionalSource, problemAt } from '../config/yaml-source.js';
import { zodProblems } from '../config/zod-problems.js';
import { AfwError, type Problem } from '../errors.js';

const ONE_LINE = /^[^\n\r\0]*$/;
const oneLine = (max: number) => z.string().max(max).regex(ONE_LINE, 'must be one line (no newline or NUL)');

const chainName = z
  .string()
  .regex(new RegExp(`^${CHAIN_PREFIX}[A-Z0-9-]+$`), `not an artesca-fw chain name (${CHAIN_PREFIX}...)`)
  .max(MAX_CHAIN_NAME);
const setName = z
  .string()
  .regex(new RegExp(`^${SET_PREFIX}[46]-[a-z0-9-]+$`), `not an artesca-fw set name (${SET_PREFIX}4-... or ${SET_PREFIX}6-...)`)
  .max(MAX_SET_NAME);
/** An address or CIDR as ipset prints it: nothing that could become a second command in a batch. */
const member = z.string().regex(/^[0-9a-fA-F.:]{2,45}(\/\d{1,3})?$/, 'not an IP address or CIDR');
const spec = oneLine(4096).min(1);
const family = z.union([z.literal(4), z.literal(6)]);
const table = z.enum(['mangle', 'filter']);
const backend = z.enum(['nft', 'legacy']);
const hash = z.string().regex(/^[0-9a-f]{16}$/, 'not a ruleset hash (16 hex digits)');
const time = z.iso.datetime({ message: 'not an ISO 8601 time' });

const jump = z
  .strictObject({
    table,
    builtin: z.enum(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT']),
    chain: chainName,
    spec,
  })
  .refine((j) => new RegExp(`(^| )-[jg] ${j.chain}( |$)`).test(j.spec), {
    message: 'a jump rule must jump to its own chain (-j or -g)',
    path: ['spec'],
  });

const chain = z
  .strictObject({ name: chainName, table, specs: z.array(spec), ids: z.array(spec) })
  .refine((c) => c.ids.length === c.specs.length, { message: 'one id per rule spec', path: ['ids'] });

const addressSet = z.strictObject({
  name: setName,
  family,
  type: z.enum(['hash:ip', 'hash:net']),
  members: z.array(member),
  describes: oneLine(400),
});

/** Format 1 (0.1.0) called the jump rules "hooks": read it as it was written. */
function jumpsOfFormat1(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || !('hooks' in v) || 'jumps' in v) return v;
  const { hooks, ...rest } = v as Record<string, unknown>;
  return { ...rest, jumps: hooks };
}

export const desiredSchema = z.strictObject({
  families: z
    .array(z.preprocess(jumpsOfFormat1, z.strictObject({ family, chains: z.array(chain), jumps: z.array(jump) })))
    .max(2),
  sets: z.array(addressSet),
});

export const storedStateSchema = z.strictObject({
  format: z.union([z.literal(1), z.literal(2)]),
  savedAt: time,
  node: oneLine(253),
  backend,
  hash,
  desired: desiredSchema,
});

export const pendingSchema = z.strictObject({
  createdAt: time,
  deadline: time,
  node: oneLine(253),
  backend,
  tentativeHash: hash,
  tentative: desiredSchema,
  previousHash: hash,
  previous: desiredSchema,
});

export const rolledBackSchema = z.strictObject({
  at: time,
  refusedHash: hash,
  restoredHash: hash,
  restored: desiredSchema,
  backend,
});

export type StoredState = z.infer<typeof storedStateSchema>;
export type Pending = z.infer<typeof pendingSchema>;
export type RolledBack = z.infer<typeof rolledBackSchema>;

/** Which field holds a hash of which ruleset, per kind of file: checked after the schema. */
type HashPairs<T> = ReadonlyArray<readonly [keyof T & string, keyof T & string]>;

function corrupt(file: string, problems: Problem[]): AfwError {
  return new AfwError('AFW_STATE_CORRUPT', `${file}: refused, nothing loaded: ${problems[0]?.message ?? 'invalid'}`, {
    problems: problems.map((p) => ({ ...p, message: `${p.message} (state file refused, nothing loaded)` })),
  });
}

/** Line and column of a JSON.parse error, when the engine says where. */
function jsonErrorAt(text: string, message: string): { line: number; col: number } {
  const pos = /position (\d+)/.exec(message);
  const offset = pos ? Number(pos[1]) : text.length;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: (before.at(-1)?.length ?? 0) + 1 };
}

/**
 * Reads and checks one state file. Returns undefined when it does not exist;
 * throws AFW_STATE_CORRUPT (file, line, field) when it is damaged or tampered with.
 */
export async function readStateFile<T extends Record<string, unknown>>(
  file: string,
  schema: z.ZodType<T>,
  hashes: HashPairs<T>,
): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AfwError('AFW_STATE_CORRUPT', `${file}: cannot be read: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const at = jsonErrorAt(text, (err as Error).message);
    throw corrupt(file, [{ message: `not valid JSON (${(err as Error).message})`, where: { file, ...at, field: '' } }]);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw corrupt(file, zodProblems(positionalSource(file, text, data), parsed.error));
  }
  const value = parsed.data;
  for (const [hashField, rulesetField] of hashes) {
    // The hash is of the ruleset as it was written (a format 1 file, before its fields are renamed).
    const want = desiredHash((data as Record<string, unknown>)[rulesetField] as Desired);
    if (value[hashField] !== want) {
      throw corrupt(file, [
        problemAt(
          positionalSource(file, text, data),
          [hashField],
          `does not match the content of ${rulesetField} (${want}): the file was edited or damaged`,
        ),
      ]);
    }
  }
  return value;
}

/** Writes a state file so that a crash or power cut leaves the old file or the new one, never a mix. */
export async function writeStateFile(file: string, value: unknown): Promise<void> {
  await writeStateChunks(file, [`${JSON.stringify(value, null, 1)}\n`]);
}

/** writeStateFile for a text made piece by piece (stateChunks). */
export async function writeStateChunks(file: string, chunks: Iterable<string>): Promise<void> {
  await writeChunksAtomic(file, chunks, { dirMode: 0o700, mode: 0o600 });
}

/** Write to a temporary file, fsync, rename over, fsync the folder: readers see the old text or the new. */
export async function writeTextAtomic(file: string, text: string, modes: { dirMode: number; mode: number }): Promise<void> {
  await writeChunksAtomic(file, [text], modes);
}

/** writeTextAtomic for text made piece by piece: never the whole of it in memory at once. */
export async function writeChunksAtomic(
  file: string,
  chunks: Iterable<string>,
  modes: { dirMode: number; mode: number },
): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: modes.dirMode });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', modes.mode);
  try {
    for (const chunk of chunks) await fh.write(chunk);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
