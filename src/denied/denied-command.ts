// `artesca-fw denied`: asks the running agent for its record of denied flows
// and prints it, busiest first; `--reset` empties it through the control
// socket (root: it is in the state dir).
import http from 'node:http';
import type { CommandResult } from '../agent/oneshot.js';
import { loadConfigOnly } from '../agent/sources.js';
import { statusUrl } from '../agent/status-client.js';
import { AfwError } from '../errors.js';
import { controlSocket } from '../http/control.js';
import type { DeniedView } from './denied-flows.js';

/** What a table on a terminal shows unless --top says otherwise. */
const DEFAULT_TOP_TEXT = 50;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export interface DeniedOptions {
  json?: boolean;
  since?: string;
  top?: string;
  reset?: boolean;
  url?: string;
  stateDir?: string;
}

/** `--since`: a duration back from now (90s, 15m, 2h, 7d) or an ISO 8601 time; ms since the epoch. */
export function parseSince(text: string, now: number): number {
  const d = /^(\d+)([smhd])$/.exec(text);
  if (d) return now - Number(d[1]) * UNITS[d[2]!]!;
  const t = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) {
    throw new AfwError('AFW_USAGE', `--since ${text}: give a duration (90s, 15m, 2h, 7d) or an ISO 8601 time`);
  }
  return t;
}

function parseTop(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new AfwError('AFW_USAGE', `--top ${text}: a whole number from 1`);
  return Number(text);
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function formatDenied(v: DeniedView, shown: number, total: number): string {
  const what = v.mode === 'audit' ? 'would be refused (audit mode: let through)' : 'refused';
  const packets = v.flows.reduce((s, f) => s + f.packets, 0);
  const lines = [
    `flows ${what} since ${v.since}: ${total} flow(s)${v.overflow ? `, ${v.overflow} more beyond denied.maxFlows (overflow)` : ''}`,
    `clean since: ${v.cleanSince ?? 'not clean (refused within the last minute)'}`,
  ];
  if (v.flows.length === 0) return lines.join('\n');
  const rows = [['PACKETS', 'DIRECTION', 'PLANE', 'PEER', 'PROTO', 'PORT', 'LAST SEEN', 'RULE']];
  for (const f of v.flows.slice(0, shown)) {
    rows.push([
      String(f.packets),
      f.direction,
      f.plane,
      f.peer,
      f.proto,
      f.port === null ? '-' : String(f.port),
      f.lastSeen,
      f.rule,
    ]);
  }
  lines.push('', ...table(rows));
  if (total > shown) lines.push(`... ${total - shown} more (--top ${total} shows them all)`);
  else lines.push(`${packets} packet(s)`);
  return lines.join('\n');
}

function post(socketPath: string, route: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: route, method: 'POST', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

async function reset(configFile: string, stateDir?: string): Promise<CommandResult> {
  let dir = stateDir;
  if (!dir) {
    try {
      dir = (await loadConfigOnly(configFile)).config.stateDir;
    } catch (err) {
      throw new AfwError(
        'AFW_USAGE',
        `--reset needs the state dir: the config cannot be read (${(err as Error).message}); give --state-dir`,
      );
    }
  }
  const socket = controlSocket(dir);
  try {
    const r = await post(socket, '/denied/reset');
    if (r.status !== 200) throw new Error(`answered ${r.status}: ${r.body}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new AfwError('AFW_NOT_ROOT', `${socket}: permission denied: --reset needs root`);
    throw new AfwError('AFW_DAEMON_UNREACHABLE', `no agent answers at ${socket}: ${(err as Error).message}`, { cause: err });
  }
  return { text: 'the record of denied flows is empty', data: { reset: true } };
}

export async function deniedCommand(configFile: string, o: DeniedOptions): Promise<CommandResult> {
  if (o.reset) return reset(configFile, o.stateDir);
  const since = o.since === undefined ? undefined : parseSince(o.since, Date.now());
  const top = o.top === undefined ? undefined : parseTop(o.top);
  const base = await statusUrl(configFile, o.url);
  const query = new URLSearchParams();
  if (since !== undefined) query.set('since', String(since));
  let view: DeniedView;
  try {
    const res = await fetch(`${base}/denied?${query}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`answered ${res.status}`);
    view = (await res.json()) as DeniedView;
  } catch (err) {
    throw new AfwError('AFW_DAEMON_UNREACHABLE', `no agent answers at ${base}/denied: ${(err as Error).message}`, { cause: err });
  }
  const total = view.flows.length;
  const shown = top ?? (o.json ? total : DEFAULT_TOP_TEXT);
  const data = { ...view, flows: view.flows.slice(0, shown) };
  return { text: formatDenied(view, shown, total), data: data as unknown as Record<string, unknown> };
}
