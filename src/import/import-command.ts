// `artesca-fw import calico FILE... [--config FILE] [--output FILE]`: reads
// the files, imports, checks that what it wrote is a valid `policies:` and
// `failsafe:` for this config, and writes it (stdout, or --output, only when
// nothing was refused). The differences from the built-in policies go to
// stderr, policy by policy.
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { CommandResult } from '../agent/oneshot.js';
import { loadConfigOnly } from '../agent/sources.js';
import { writeTextAtomic } from '../agent/state-files.js';
import { PLANES } from '../config/model.js';
import { parseConfig } from '../config/validate-config.js';
import { AfwError, type Problem } from '../errors.js';
import { readCalicoFile } from './calico-documents.js';
import { CalicoImporter } from './calico-import.js';
import { compareWithBuiltins } from './policy-diff.js';

export interface ImportOptions {
  output?: string;
}

export async function importCalicoCommand(
  files: string[],
  configFile: string,
  opts: ImportOptions,
): Promise<CommandResult & { notes: string[] }> {
  const { config } = await loadConfigOnly(configFile);
  const problems: Problem[] = [];
  const resources = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new AfwError('AFW_FILE_READ', `${file}: cannot be read: ${(err as Error).message}`, { cause: err });
    }
    resources.push(...readCalicoFile(file, text, problems));
  }
  const result = new CalicoImporter(config, resources).run();
  problems.push(...result.problems);
  if (problems.length > 0) {
    throw new AfwError('AFW_IMPORT_REFUSED', `${problems.length} thing(s) cannot be imported exactly; nothing was written`, {
      problems,
    });
  }
  const comparison = compareWithBuiltins(result.policies);
  const policies = [...result.policies, ...comparison.disable];
  const text = `# Imported from Calico by artesca-fw import calico (${files.join(', ')}).\n# Append to ${configFile}; failsafe: ${result.failsafeNote}.\n${stringify({ policies, failsafe: result.failsafe }, { lineWidth: 0 })}`;

  // What is written must be what `check` accepts with this config: the config's own policies and failsafe give way to these.
  const configText = await readFile(configFile, 'utf8');
  const stripped = configText.replace(/^(policies|failsafe):.*(\n[ \t-].*)*/gm, '');
  try {
    parseConfig(`${stripped}\n${text}`, configFile, { hostname: config.node.name });
  } catch (err) {
    throw new AfwError(
      'AFW_INTERNAL',
      `the import does not validate with ${configFile}: ${(err as AfwError).lines?.().join('; ') ?? (err as Error).message}`,
      { cause: err },
    );
  }
  if (opts.output) await writeTextAtomic(opts.output, text, { dirMode: 0o755, mode: 0o644 });
  const uncovered = PLANES.filter((p) => !result.endpoints.some((e) => e.planes.includes(p)));
  const notes = [
    ...result.endpoints.map((e) => `host endpoint ${e.name}: ${e.planes.join(' + ')}`),
    ...uncovered.map(
      (p) =>
        `no host endpoint on the ${p}: Calico does not police it today; artesca-fw will (what no policy allows there is refused)`,
    ),
    ...comparison.lines,
    `failsafe: ${result.failsafeNote}`,
    ...(/^(policies|failsafe):/m.test(configText)
      ? [`${configFile} has policies: or failsafe: of its own: replace them with these (YAML allows each key once)`]
      : []),
  ];
  return {
    text: opts.output ? `wrote ${opts.output}` : text.trimEnd(),
    data: { policies, failsafe: result.failsafe, notes },
    notes,
  };
}
