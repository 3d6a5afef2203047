// deploy/monitoring with the real promtool (Debian's prometheus package):
// the rules file checks, every alert has a promtool unit test that fires and
// one that stays quiet (alerts.promtool.yaml), the PrometheusRule holds the
// very same groups, and the dashboard's and the rules' metrics are ones the
// agent serves (test/kernel/monitoring.test.ts scrapes them for real).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/http/metrics.js';

const run = promisify(execFile);
const DIR = path.resolve(import.meta.dirname, '../../deploy/monitoring');
const RULES = path.join(DIR, 'artesca-fw.rules.yaml');
const TESTS = path.resolve(import.meta.dirname, 'alerts.promtool.yaml');

interface Rule {
  alert: string;
  expr: string;
  annotations: { summary: string; description: string };
}
const groups = parse(readFileSync(RULES, 'utf8')).groups as { name: string; rules: Rule[] }[];
const alerts = groups.flatMap((g) => g.rules);

async function promtool(...args: string[]) {
  try {
    return await run('promtool', args, { cwd: path.dirname(TESTS) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('promtool is not installed: apt-get install prometheus (scripts/ensure-packages.sh does)');
    throw new Error(`promtool ${args.join(' ')}: ${e.stdout}${e.stderr}`);
  }
}

describe('alert rules (deploy/monitoring)', () => {
  it('promtool check rules accepts the rules file', async () => {
    const { stdout } = await promtool('check', 'rules', RULES);
    expect(stdout).toMatch(new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('promtool test rules: every alert fires on its fault and stays quiet without', async () => {
    const { stdout } = await promtool('test', 'rules', TESTS);
    expect(stdout).toMatch(/SUCCESS/);
    const tests = parse(readFileSync(TESTS, 'utf8')).tests as {
      alert_rule_test: { alertname: string; exp_alerts?: unknown[] }[];
    }[];
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const a of alerts) {
      expect(
        cases.some((c) => c.alertname === a.alert && (c.exp_alerts?.length ?? 0) > 0),
        `${a.alert} fires`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === a.alert && !c.exp_alerts?.length),
        `${a.alert} stays quiet`,
      ).toBe(true);
    }
  });

  it('the alerts the issue asks for are there, each telling the operator what to run next', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'ArtescaFwAgentNotScraped',
        'ArtescaFwLoadsFailing',
        'ArtescaFwRulesRepairedRepeatedly',
        'ArtescaFwConflictWithAnotherWriter',
        'ArtescaFwMembershipStale',
        'ArtescaFwRulesetsDiffer',
        'ArtescaFwRefusalsInAudit',
      ]),
    );
    for (const a of alerts) {
      expect(a.annotations.summary, a.alert).toMatch(/ Next: (artesca-fw \w+|systemctl status artesca-fw) /);
      expect(a.annotations.description, a.alert).toMatch(/artesca-fw \w+|systemctl|curl/);
    }
  });

  it('the PrometheusRule holds exactly the groups of the rules file', () => {
    const cr = parse(readFileSync(path.join(DIR, 'prometheusrule.yaml'), 'utf8'));
    expect(cr).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' });
    expect(cr.spec.groups).toEqual(groups);
  });

  it('every metric the rules and the dashboard use is one the agent serves', async () => {
    const served = new Set(
      (
        await new Metrics(
          async () => [],
          () => 0,
        ).registry.getMetricsAsJSON()
      ).flatMap((m) => (String(m.type) === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name])),
    );
    const dashboard = JSON.parse(readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8'));
    const exprs = [
      ...alerts.map((a) => a.expr),
      ...dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr)),
    ];
    const used = new Set(exprs.flatMap((e) => e.match(/artesca_fw_\w+/g) ?? []));
    expect(used.size).toBeGreaterThan(10);
    for (const m of used) expect(served.has(m), m).toBe(true);
  });
});
