// `metrics.listen`: where the daemon serves /metrics (and only that) for the
// cluster's Prometheus. "ADDRESS:PORT" with one of this node's control-plane
// addresses (checked against the membership in checkCluster), or ":PORT" for
// the node's own control-plane address from the membership. The port must be
// one no policy, failsafe entry or the status server already uses: the rule
// that opens it to infra nodes would otherwise widen or shadow another.
import { effectivePolicies } from '../policy/effective.js';
import { cidrContains, parseAddress, parseCidr } from './addresses.js';
import { parseListen } from './listen-address.js';
import type { Config, FailsafeEntry, PlaneNetwork, Policy } from './model.js';
import type { Report } from './validate-policy.js';

const AT = ['metrics', 'listen'];

export function parseMetricsListen(
  text: string | undefined,
  ctx: {
    controlPlane: PlaneNetwork;
    status: { host: string; port: number } | undefined;
    policies: Policy[];
    failsafe: FailsafeEntry[];
  },
  report: Report,
): Config['metrics']['listen'] {
  if (text === undefined) return null;
  const parsed = parseListen(text, { hostOptional: true });
  if (!parsed) {
    report(AT, `"${text}" is not ADDRESS:PORT or :PORT (e.g. 10.100.0.1:9901, or :9901 for this node's control-plane address)`);
    return null;
  }
  const { port } = parsed;
  const host = parsed.host === null ? undefined : parseAddress(parsed.host);
  if (host) {
    const cidrs = ctx.controlPlane.cidrs.map((c) => parseCidr(c).cidr!).filter((c) => c.family === host.family);
    if (ctx.controlPlane.cidrs.length && !cidrs.some((c) => cidrContains(c, host))) {
      report(
        AT,
        `${host.text} is not in the controlPlane network (${ctx.controlPlane.cidrs.join(', ')}): metrics are served on the control plane`,
      );
      return null;
    }
  }
  const status = ctx.status;
  if (status && status.port === port && (!host || ['0.0.0.0', '::'].includes(status.host) || status.host === host.text)) {
    report(AT, `port ${port} is the status server's (status.listen ${status.host}:${port}): pick another`);
    return null;
  }
  const named = effectivePolicies(ctx.policies).flatMap((p) =>
    p.appliesTo.plane !== 'controlPlane'
      ? []
      : p.ingress
          .filter((r) => (!r.protocol || r.protocol.number === 6) && (r.ports ?? []).some((x) => port >= x.from && port <= x.to))
          .map((r) => `policy ${p.name}${r.comment ? ` (${r.comment})` : ''}`),
  );
  const failsafe = ctx.failsafe
    .filter((f) => f.protocol === 'tcp' && port >= f.ports.from && port <= f.ports.to)
    .map((f) => `failsafe ${f.text}`);
  if (named.length || failsafe.length) {
    report(AT, `port ${port} is already opened by ${[...named, ...failsafe].join(', ')}: pick a port nothing else uses`);
    return null;
  }
  return { host: host?.text ?? null, port };
}
