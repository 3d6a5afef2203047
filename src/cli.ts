// The command line: parses arguments, runs a command, prints, exits.
// Exit codes (config.md): 0 success, 1 the config or the system refused, 2 usage.
import { Command, CommanderError, Option } from 'commander';
import { parseOverrides } from './agent/compile-node.js';
import { runDaemon } from './agent/daemon.js';
import { applyCommand, type CommandResult, checkCommand, flushCommand, planCommand } from './agent/oneshot.js';
import { configPath } from './agent/sources.js';
import { statusCommand } from './agent/status-client.js';
import { AfwError, asAfwError } from './errors.js';
import { VERSION } from './version.js';

interface Common {
  config?: string;
  json?: boolean;
  iface?: string[];
}

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

async function output(opts: Common, fn: () => Promise<CommandResult>): Promise<void> {
  try {
    const res = await fn();
    process.stdout.write(`${opts.json ? JSON.stringify(res.data, null, 2) : res.text}\n`);
  } catch (err) {
    const e = asAfwError(err);
    for (const line of e.lines()) process.stderr.write(`${line}\n`);
    if (e.problems.length === 0 || e.code !== 'AFW_CONFIG_INVALID') {
      // Say which step and which error code, so that a script can tell causes apart.
      if (e.problems.length > 0) process.stderr.write(`artesca-fw: ${e.message} [${e.code}]\n`);
      else process.stderr.write(`artesca-fw: [${e.code}]${e.step ? ` step: ${e.step}` : ''}\n`);
    }
    if (opts.json) process.stdout.write(`${JSON.stringify({ ok: false, error: e.toJSON() }, null, 2)}\n`);
    process.exitCode = e.exitCode;
  }
}

export function buildProgram(): Command {
  const program = new Command('artesca-fw')
    .description('Per-host firewall agent for ARTESCA cluster nodes')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  const configOpt = () =>
    new Option('-c, --config <file>', 'config file (default: $ARTESCA_FW_CONFIG or /etc/artesca-fw/config.yaml)');
  const jsonOpt = () => new Option('--json', 'print data as JSON');
  const ifaceOpt = () =>
    new Option(
      '--iface <plane=ifname>',
      'take this interface for a plane instead of resolving it (preview on another machine)',
    ).argParser(collect);

  program
    .command('check')
    .description('validate config, inventory and interfaces; say what would be enforced')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .addOption(ifaceOpt())
    .action((o: Common) => output(o, () => checkCommand(configPath(o.config), parseOverrides(o.iface))));

  program
    .command('plan')
    .description('print the ipset and iptables-restore input that apply would load')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .addOption(ifaceOpt())
    .action((o: Common) => output(o, () => planCommand(configPath(o.config), parseOverrides(o.iface))));

  program
    .command('apply')
    .description('compile and load once, atomically (root)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('--from-state [dir]', 'load the last-known-good ruleset from the state dir, reading no config')
    .action((o: Common & { fromState?: string | true }) =>
      output(o, () =>
        applyCommand(configPath(o.config), {
          ...(o.fromState !== undefined ? { fromState: o.fromState === true ? '/var/lib/artesca-fw' : o.fromState } : {}),
        }),
      ),
    );

  program
    .command('flush')
    .description('remove every chain, rule and set artesca-fw owns, nothing else (root)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .action((o: Common) => output(o, () => flushCommand(configPath(o.config))));

  program
    .command('run')
    .description('the daemon: apply, then follow file and interface changes, repair drift, serve status (root)')
    .addOption(configOpt())
    .option('--state-dir <dir>', "the last-known-good ruleset's folder (default: stateDir from the config)")
    .action(async (o: Common & { stateDir?: string }) => {
      if (process.getuid?.() !== 0) throw new AfwError('AFW_NOT_ROOT', 'run changes the firewall and needs root (CAP_NET_ADMIN)');
      const daemon = await runDaemon({ configFile: configPath(o.config), ...(o.stateDir ? { stateDir: o.stateDir } : {}) });
      await new Promise<void>((resolve) => {
        const done = (signal: string) => {
          process.stderr.write(`artesca-fw: ${signal}: stopping, rules stay in force\n`);
          void daemon.stop().then(resolve);
        };
        process.once('SIGTERM', () => done('SIGTERM'));
        process.once('SIGINT', () => done('SIGINT'));
      });
    });

  program
    .command('status')
    .description('ask the running agent and print a summary')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('--url <url>', 'the status server (default: status.listen of the config, or http://127.0.0.1:9900)')
    .action((o: Common & { url?: string }) => output(o, () => statusCommand(configPath(o.config), o.url)));

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; anything else commander refuses is a usage error.
      process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
      return;
    }
    const e = err instanceof AfwError ? err : asAfwError(err);
    process.stderr.write(`artesca-fw: ${e.message}\n`);
    process.exitCode = e.code === 'AFW_USAGE' ? 2 : e.exitCode;
  }
}
