// `artesca-fw run` whose file watcher loses the first change it hears, as a
// watch does when inotify's queue overflows (libuv drops the overflow notice):
// the kernel test runs it to show that the content check alone brings the
// change in. Usage: node dist/scripts/lab/daemon-losing-events.js CONFIG
import { makeLogger, runDaemon } from '../../src/agent/daemon.js';
import { FileWatcher } from '../../src/agent/watchers.js';

const configFile = process.argv[2];
if (!configFile) throw new Error('usage: daemon-losing-events.js CONFIG');
const log = makeLogger();
let lost = false;
const daemon = await runDaemon({
  configFile,
  logger: log,
  fileWatcher: (onChange, onError) =>
    new FileWatcher((file) => {
      if (lost) return onChange(file);
      lost = true;
      log.info({ event: 'test', lost: file }, `the file watcher lost this change on purpose: ${file}`);
    }, onError),
});
process.once('SIGTERM', () => void daemon.stop().then(() => process.exit(0)));
