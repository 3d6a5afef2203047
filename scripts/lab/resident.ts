// Resident memory of a process from /proc (node:fs only: the runtime floor imports it and nothing else).
import { readFileSync } from 'node:fs';

/**
 * Resident memory of a process in MB: VmRSS, and its two parts: anonymous
 * (the process's own: heaps, stacks) and file-backed (mapped files read in,
 * mostly the node binary's code: shared with every process running it, and
 * dropped by the kernel under memory pressure).
 */
export function residentMb(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

/** Resident memory (VmRSS) of a process, in MB. */
export function rssMb(pid: number): number {
  return residentMb(pid).rss;
}
