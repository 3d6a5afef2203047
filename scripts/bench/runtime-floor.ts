// The runtime's own floor: the node binary the package ships, started as
// bin/artesca-fw starts the agent, with nothing loaded ("bare") or with the
// libraries the daemon loads at startup ("libraries": fastify, pino,
// prom-client, zod, js-yaml, chokidar, commander, ipaddr.js, node:https; `yaml`
// is loaded only by an error). No agent code, no inventory. Prints its resident
// memory as JSON once collected and idle. Run by bench-membership.
import { residentMb } from '../lab/resident.js';

const LIBRARIES = ['node:https', 'fastify', 'pino', 'prom-client', 'zod', 'js-yaml', 'chokidar', 'commander', 'ipaddr.js'];

async function main(): Promise<void> {
  if (process.argv[2] === 'libraries') for (const m of LIBRARIES) await import(m);
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(JSON.stringify(residentMb(process.pid)));
}

await main();
