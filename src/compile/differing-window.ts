// Where two lists differ, by identity: what both start and end with is the
// same, only the window between needs a look. A Node event changes one node
// of thousands (and one member of each set it is in).

export interface Window {
  start: number;
  /** End (exclusive) of the window in the first list, and in the second. */
  aEnd: number;
  bEnd: number;
}

export function differingWindow<T>(a: readonly T[], b: readonly T[]): Window {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let aEnd = a.length;
  let bEnd = b.length;
  while (aEnd > start && bEnd > start && a[aEnd - 1] === b[bEnd - 1]) {
    aEnd--;
    bEnd--;
  }
  return { start, aEnd, bEnd };
}
