// "ADDRESS:PORT" or "[V6]:PORT" (status.listen, metrics.listen); with
// `hostOptional`, ":PORT" too (host null: the caller fills it in).
import { parseAddress } from './addresses.js';

export function parseListen(text: string): { host: string; port: number } | undefined;
export function parseListen(text: string, opts: { hostOptional: true }): { host: string | null; port: number } | undefined;
export function parseListen(
  text: string,
  opts: { hostOptional?: boolean } = {},
): { host: string | null; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]*):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] === '') return opts.hostOptional ? { host: null, port } : undefined;
  const host = parseAddress(m[1] === 'localhost' ? '127.0.0.1' : m[1]!);
  return host ? { host: host.text, port } : undefined;
}
