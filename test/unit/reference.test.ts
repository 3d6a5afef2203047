// docs/reference.md (the source of the manual page artesca-fw(8)) documents
// every command with its options and every config field, once, and nothing
// that does not exist: the CLI (commander) and the config schema (zod) are
// read here and compared with it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { configSchema } from '../../src/config/schema.js';

const text = readFileSync(path.resolve(import.meta.dirname, '../../docs/reference.md'), 'utf8');
const section = (title: string) => {
  const start = text.indexOf(`\n# ${title}\n`);
  const end = text.indexOf('\n# ', start + 1);
  expect(start, title).toBeGreaterThan(0);
  return text.slice(start, end < 0 ? undefined : end);
};

function commands(c: Command, prefix = ''): { name: string; cmd: Command }[] {
  return c.commands
    .filter((s) => !(s as unknown as { _hidden: boolean })._hidden)
    .flatMap((s) => {
      const name = `${prefix}${s.name()}`;
      return s.commands.length ? commands(s, `${name} `) : [{ name, cmd: s }];
    });
}

interface ZodLike {
  _zod: {
    def: {
      type: string;
      innerType?: ZodLike;
      in?: ZodLike;
      shape?: Record<string, ZodLike>;
      element?: ZodLike;
      options?: ZodLike[];
    };
  };
}
/** Every field path of the schema, arrays as `[]` (trailing ones dropped: a list of values is one field). */
function fields(s: ZodLike, p: string, out: Set<string>): void {
  const def = s._zod.def;
  const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
  if (inner) {
    fields(inner, p, out);
    return;
  }
  if (def.type === 'object') {
    for (const [k, v] of Object.entries(def.shape!)) fields(v, p ? `${p}.${k}` : k, out);
    return;
  }
  if (def.type === 'array') {
    fields(def.element!, `${p}[]`, out);
    return;
  }
  if (def.type === 'union') {
    for (const o of def.options!) fields(o, p, out);
    return;
  }
  out.add(p.replace(/(\[\])+$/, ''));
}

describe('docs/reference.md against the CLI and the config schema', () => {
  const cmds = commands(buildProgram());
  const body = section('COMMANDS');
  const headings = [...body.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);

  it('every command has its section, and every section is a command', () => {
    expect(headings.sort()).toEqual(cmds.map((c) => c.name).sort());
  });

  it("every option of a command is in that command's section", () => {
    for (const { name, cmd } of cmds) {
      const start = body.indexOf(`## ${name}\n`);
      const next = body.indexOf('\n## ', start + 1);
      const own = body.slice(start, next < 0 ? undefined : next).replace(/\\-/g, '-');
      for (const o of cmd.options) {
        if (o.long === '--config' || o.long === '--json') continue; // said once, for every command
        expect(own, `${name} ${o.long}`).toContain(o.long);
      }
    }
  });

  it('every config field is documented once, and every documented field exists', () => {
    const schema = new Set<string>();
    fields(configSchema as unknown as ZodLike, '', schema);
    // A field whose value may also be an object (failsafe: calico | { inbound, outbound }) is documented by its leaves.
    const leaves = [...schema].filter((f) => ![...schema].some((g) => g.startsWith(`${f}.`)));
    const documented = [...section('CONFIGURATION').matchAll(/^`([^`]+)`\n: /gm)].map((m) => m[1]!);
    expect(new Set(documented).size, 'each once').toBe(documented.length);
    expect(documented.sort()).toEqual(leaves.sort());
  });
});
