// Keeps the daemon's resident memory close to what it holds: a reconcile of a
// large inventory makes tens of megabytes of short-lived garbage (parsed YAML,
// tool output), and V8 grows its heap rather than give it back. A full
// collection once things are quiet returns it.
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

function collector(): (() => void) | undefined {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    } catch {
      gc = () => {};
    }
  }
  return gc;
}

let timer: NodeJS.Timeout | null = null;

/** Schedules one full collection `delayMs` after the last call. */
export function collectWhenQuiet(delayMs = 1000): void {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    collector()?.();
  }, delayMs);
  timer.unref();
}
