// `artesca-fw run` with test settings the product does not expose, for the
// kernel tests. Usage: node dist/scripts/lab/daemon-variant.js CONFIG [options]
//   --lose-first-file-event   the file watcher loses the first change it hears,
//                             as a watch does when inotify's queue overflows (libuv
//                             drops the overflow notice): the content check alone
//                             must bring the change in
//   --contest-ms N            the top-of-chain contest's window and first backoff
//                             (N ms instead of a minute), so a retry is seen soon
import { parseArgs } from 'node:util';
import { makeLogger, runDaemon } from '../../src/agent/daemon.js';
import { FileWatcher } from '../../src/agent/watchers.js';
import { DEFAULT_CONTEST } from '../../src/cutover/top-of-chain.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'lose-first-file-event': { type: 'boolean' }, 'contest-ms': { type: 'string' } },
});
const configFile = positionals[0];
if (!configFile) throw new Error('usage: daemon-variant.js CONFIG [--lose-first-file-event] [--contest-ms N]');
const log = makeLogger();
let lost = !values['lose-first-file-event'];
const contestMs = values['contest-ms'] ? Number(values['contest-ms']) : undefined;
const daemon = await runDaemon({
  configFile,
  logger: log,
  fileWatcher: (onChange, onError) =>
    new FileWatcher((file) => {
      if (lost) return onChange(file);
      lost = true;
      log.info({ event: 'test', lost: file }, `the file watcher lost this change on purpose: ${file}`);
    }, onError),
  ...(contestMs
    ? { contest: { ...DEFAULT_CONTEST, windowMs: contestMs, firstBackoffMs: contestMs, maxBackoffMs: 4 * contestMs } }
    : {}),
});
process.once('SIGTERM', () => void daemon.stop().then(() => process.exit(0)));
