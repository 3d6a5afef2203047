// A raw socket inside a namespace, listening for `seconds`: it sees what
// netfilter lets through to the host, before any protocol stack answers.
// `report` is Python run for each packet (`data`, `addr` in scope) that
// prints what the test wants to know.
import type { Lab } from '../../scripts/lab/netns.js';

export async function rawReceiver(
  lab: Lab,
  ns: string,
  proto: string,
  report: string[],
  seconds = 3,
): Promise<{ lines: () => Promise<string[]> }> {
  const child = lab.spawn(ns, 'python3', [
    '-c',
    [
      'import socket, struct, sys, time',
      `s = socket.socket(socket.AF_INET, socket.SOCK_RAW, ${proto})`,
      's.settimeout(0.2)',
      `end = time.time() + ${seconds}`,
      'print("ready", flush=True)',
      'while time.time() < end:',
      '    try:',
      '        data, addr = s.recvfrom(65535)',
      '    except socket.timeout:',
      '        continue',
      ...report.map((l) => `    ${l}`),
    ].join('\n'),
  ]);
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const exited = new Promise((r) => child.on('exit', r));
  const deadline = Date.now() + 5000;
  while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!out.includes('ready')) throw new Error(`raw receiver in ${ns} did not start`);
  return {
    lines: async () => {
      await exited;
      return out.split('\n').filter((l) => l && l !== 'ready');
    },
  };
}
