// The command line: parses arguments, runs a command, prints, exits.
// Exit codes (config.md): 0 success, 1 the config or the system refused, 2 usage.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseOverrides } from './agent/compile-node.js';
import { rollbackWatch } from './agent/confirm.js';
import { runDaemon } from './agent/daemon.js';
import {
  applyCommand,
  type CommandResult,
  checkCommand,
  confirmCommand,
  diffCommand,
  explainCommand,
  flushCommand,
  planCommand,
  previewCommand,
} from './agent/oneshot.js';
import { configPath } from './agent/sources.js';
import { statusCommand } from './agent/status-client.js';
import type { PacketQuery } from './compile/explain.js';
import { parseAddress } from './config/addresses.js';
import type { Plane } from './config/model.js';
import { parseProtocol } from './config/validate-policy.js';
import { ToolRunner } from './dataplane/exec.js';
import { type DeniedOptions, deniedCommand } from './denied/denied-command.js';
import { AfwError, asAfwError } from './errors.js';
import { VERSION } from './version.js';

interface ExplainOptions extends Common {
  from: string;
  to: string;
  proto: string;
  port?: string;
  icmpType?: string;
  direction: 'ingress' | 'egress';
  plane?: Plane;
}

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
    .action((o: Common) => output(o, () => checkCommand(configPath(o.config), parseOverrides(o.iface), new ToolRunner())));

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
    .option(
      '--confirm <seconds>',
      'trial: roll back to the previous ruleset unless "artesca-fw confirm" runs within SECONDS',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 86400) throw new InvalidArgumentError('a whole number of seconds, 1-86400');
        return n;
      },
    )
    .action((o: Common & { fromState?: string | true; confirm?: number }) =>
      output(o, () =>
        applyCommand(
          configPath(o.config),
          {
            ...(o.fromState !== undefined ? { fromState: o.fromState === true ? '/var/lib/artesca-fw' : o.fromState } : {}),
            ...(o.confirm !== undefined ? { confirmSeconds: o.confirm } : {}),
          },
          new ToolRunner(),
        ),
      ),
    );

  program
    .command('confirm')
    .description('keep the ruleset loaded by "apply --confirm" (root)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('--state-dir <dir>', 'the state dir (default: stateDir from the config)')
    .action((o: Common & { stateDir?: string }) =>
      output(o, () => confirmCommand(configPath(o.config), new ToolRunner(), o.stateDir)),
    );

  program
    .command('rollback-watch', { hidden: true })
    .requiredOption('--state-dir <dir>')
    .action(async (o: { stateDir: string }) => {
      await rollbackWatch(o.stateDir, new ToolRunner());
    });

  program
    .command('diff')
    .description('compare the desired ruleset with what is live; exit 0 when equal, 1 when not (root)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .action(async (o: Common) => {
      let equal = true;
      await output(o, async () => {
        const r = await diffCommand(configPath(o.config), new ToolRunner());
        equal = r.equal;
        return r;
      });
      if (!equal && !process.exitCode) process.exitCode = 1;
    });

  program
    .command('preview')
    .description(
      'which flows this host tracks now the ruleset of the config would refuse, judged as enforced; exit 0 none, 1 some (root; writes nothing)',
    )
    .addOption(configOpt())
    .addOption(jsonOpt())
    .addOption(ifaceOpt())
    .action(async (o: Common) => {
      let refused = false;
      await output(o, async () => {
        const r = await previewCommand(configPath(o.config), parseOverrides(o.iface), new ToolRunner());
        refused = r.refused;
        return r;
      });
      if (refused && !process.exitCode) process.exitCode = 1;
    });

  program
    .command('denied')
    .description('the flows the ruleset refused (enforce) or would have refused (audit), busiest first, from the running agent')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('--since <duration|time>', 'only flows seen since then: 90s, 15m, 2h, 7d, or an ISO 8601 time')
    .option('--top <n>', 'at most n flows (default: all with --json, 50 on a terminal)')
    .option('--reset', 'empty the record (root: asks through the control socket in the state dir)')
    .option('--url <url>', 'the status server (default: status.listen of the config, or http://127.0.0.1:9900)')
    .option('--state-dir <dir>', 'with --reset: the state dir (default: stateDir from the config)')
    .action((o: Common & DeniedOptions) => output(o, () => deniedCommand(configPath(o.config), o)));

  program
    .command('verify')
    .description(
      "probe every peer of the membership from here, on every port a policy names (and one nobody names per plane), and compare with what the peers' policies decide; exit 0 all as expected, 1 otherwise (no root needed)",
    )
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('--outside', 'from a machine that is not a member (needs --inventory): only what is open to anyone may answer')
    .option('--inventory <file>', 'with --outside: the membership to probe')
    .option('--timeout <ms>', 'how long each probe waits (default 1000)')
    .option('--parallel <n>', 'probes in flight at once (default 256)')
    .option('--peer <name|address...>', 'only these peers: node names, plane addresses or VIPs (repeatable)')
    .action(
      async (o: Common & { outside?: boolean; inventory?: string; timeout?: string; parallel?: string; peer?: string[] }) => {
        let ok = true;
        await output(o, async () => {
          const { verifyCommand } = await import('./verify/verify-command.js');
          const num = (flag: string, v: string | undefined, min: number, max: number) => {
            if (v === undefined) return undefined;
            if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
              throw new AfwError('AFW_USAGE', `${flag} ${v}: a whole number from ${min} to ${max}`);
            return Number(v);
          };
          const r = await verifyCommand(configPath(o.config), {
            outside: o.outside,
            inventory: o.inventory,
            timeoutMs: num('--timeout', o.timeout, 50, 60_000),
            parallel: num('--parallel', o.parallel, 1, 1024),
            peers: o.peer ?? [],
          });
          ok = r.ok;
          return r;
        });
        if (!ok && !process.exitCode) process.exitCode = 1;
      },
    );

  const imports = program.command('import').description("write artesca-fw policies from another firewall's resources");
  imports
    .command('calico')
    .description(
      'GlobalNetworkPolicy, HostEndpoint and FelixConfiguration YAML (kubectl or calicoctl) -> policies: and failsafe: to append to config.yaml; what differs from the built-in policies on stderr; anything inexpressible refused with file, line and field, nothing written',
    )
    .argument('<files...>', 'YAML files holding the resources (a List, or several documents)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .option('-o, --output <file>', 'write the result there (only when nothing is refused) instead of stdout')
    .action((files: string[], o: Common & { output?: string }) =>
      output(o, async () => {
        // Loaded only here: the YAML library with positions stays out of every other command.
        const { importCalicoCommand } = await import('./import/import-command.js');
        const r = await importCalicoCommand(files, configPath(o.config), { output: o.output });
        for (const n of r.notes) process.stderr.write(`${n}\n`);
        return r;
      }),
    );

  program
    .command('explain')
    .description('which rule decides a new packet, evaluated on the compiled ruleset')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .addOption(ifaceOpt())
    .requiredOption('--from <ip>', 'source address')
    .requiredOption('--to <ip>', 'destination address')
    .option('--proto <protocol>', 'tcp, udp, icmp, icmpv6, vrrp, ipip or a number', 'tcp')
    .option('--port <port>', 'destination port (tcp, udp)')
    .option('--icmp-type <type>', 'ICMP type (default: echo request)')
    .addOption(
      new Option('--direction <direction>', 'ingress (to this node) or egress (from it)')
        .choices(['ingress', 'egress'])
        .default('ingress'),
    )
    .addOption(
      new Option('--plane <plane>', 'the plane interface to evaluate on (default: found by address)').choices([
        'controlPlane',
        'workloadPlane',
      ]),
    )
    .action((o: ExplainOptions) =>
      output(o, async () => {
        const q = explainQuery(o);
        return explainCommand(configPath(o.config), q.query, q.protoName, parseOverrides(o.iface));
      }),
    );

  program
    .command('flush')
    .description('remove every chain, rule and set artesca-fw owns, nothing else (root)')
    .addOption(configOpt())
    .addOption(jsonOpt())
    .action((o: Common) => output(o, () => flushCommand(configPath(o.config), new ToolRunner())));

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

function explainQuery(o: ExplainOptions) {
  const usage = (m: string) => new AfwError('AFW_USAGE', m);
  for (const [flag, v] of [
    ['--from', o.from],
    ['--to', o.to],
  ] as const) {
    if (!parseAddress(v)) throw usage(`${flag} ${v}: not an IP address`);
  }
  let proto: ReturnType<typeof parseProtocol>;
  proto = parseProtocol(/^\d+$/.test(o.proto) ? Number(o.proto) : o.proto, ['--proto'], (_p, m) => {
    throw usage(`--proto: ${m}`);
  });
  const query: PacketQuery = {
    from: parseAddress(o.from)!.text,
    to: parseAddress(o.to)!.text,
    protocol: proto?.number ?? 0,
    direction: o.direction,
  };
  if (o.plane) query.plane = o.plane;
  if (o.port !== undefined) {
    if (!/^\d+$/.test(o.port) || Number(o.port) < 1 || Number(o.port) > 65535) throw usage(`--port ${o.port}: 1-65535`);
    query.port = Number(o.port);
  } else if (proto && (proto.number === 6 || proto.number === 17)) throw usage('--port is needed with tcp and udp');
  if (proto && (proto.number === 1 || proto.number === 58)) {
    query.icmpType = o.icmpType !== undefined ? Number(o.icmpType) : proto.number === 1 ? 8 : 128;
  }
  return { query, protoName: proto?.name ?? 'all' };
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
