// The runtime's own floor: the node binary the package ships, started as
// bin/artesca-fw starts the agent, with nothing loaded ("bare") or with the
// libraries the daemon loads at startup ("libraries": fastify, pino,
// prom-client, zod, js-yaml, chokidar, commander, ipaddr.js, node:https; `yaml`
// is loaded only by an error). No agent code, no inventory. Prints its resident
// memory as JSON once collected and idle. Run by bench-membership.
import { readFileSync } from 'node:fs';
import { residentMb } from '../lab/resident.js';

const LIBRARIES = ['node:https', 'fastify', 'pino', 'prom-client', 'zod', 'js-yaml', 'chokidar', 'commander', 'ipaddr.js'];

/** The runtime settings of bin/artesca-fw's first line: environment and node flags. */
export function agentRuntime(binFile: string): { env: Record<string, string>; flags: string[] } {
  const first = readFileSync(binFile, 'utf8').split('\n')[0]!;
  const words = first.replace(/^#!\S+\s+-S\s+/, '').split(/\s+/);
  const env: Record<string, string> = {};
  const flags: string[] = [];
  let seenNode = false;
  for (const w of words) {
    if (!seenNode && /^[A-Z_]+=/.test(w)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
    else if (w === 'node') seenNode = true;
    else if (seenNode) flags.push(w);
  }
  return { env, flags };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'libraries') for (const m of LIBRARIES) await import(m);
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(JSON.stringify(residentMb(process.pid)));
}

if (process.argv[1]?.endsWith('runtime-floor.js')) await main();
