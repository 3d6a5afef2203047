// The policies in force: built-ins, replaced by name or extended by the user's,
// evaluated by order and then by name.
import type { Policy } from '../config/model.js';
import { parsePolicy } from '../config/validate-policy.js';
import { formatPath } from '../config/yaml-source.js';
import { AfwError } from '../errors.js';
import { BUILTIN_POLICIES } from './builtin.js';
import { METRICS_POLICY, metricsPolicy } from './metrics-policy.js';

let builtinCache: Policy[] | undefined;

/** The built-in policies in model form (the data is checked by the same parser as user policies). */
export function builtinPolicies(): Policy[] {
  if (!builtinCache) {
    builtinCache = BUILTIN_POLICIES.map((raw, i) => {
      const p = parsePolicy(
        raw,
        [i],
        (at, m) => {
          throw new AfwError('AFW_INTERNAL', `built-in policy data ${formatPath(at)}: ${m}`);
        },
        'builtin',
      );
      return p!;
    });
  }
  return builtinCache;
}

export function comparePolicies(a: Policy, b: Policy): number {
  return a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Built-ins, then the metrics policy when `metricsPort` is given (metrics.listen), then the user's: a later one replaces one of the same name. */
export function effectivePolicies(user: Policy[], metricsPort?: number): Policy[] {
  const byName = new Map<string, Policy>();
  for (const p of builtinPolicies()) byName.set(p.name, p);
  if (metricsPort !== undefined) byName.set(METRICS_POLICY, metricsPolicy(metricsPort));
  for (const p of user) byName.set(p.name, p);
  return [...byName.values()].sort(comparePolicies);
}
