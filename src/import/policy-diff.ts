// How imported policies differ from the built-in ones, policy by policy
// (same, changed, added, missing), and the empty replacements that switch off
// a built-in policy Calico does not have. Pure.
import type { Policy, PolicyRule } from '../config/model.js';
import type { RawPolicy } from '../config/schema.js';
import { parsePolicy } from '../config/validate-policy.js';
import { BUILTIN_POLICIES } from '../policy/builtin.js';
import { builtinPolicies } from '../policy/effective.js';

function ruleText(r: PolicyRule): string {
  const { comment: _c, ...rest } = r;
  return JSON.stringify(rest);
}

/** What decides packets: order, appliesTo and the rules (comments aside). */
function meaning(p: Policy): string {
  return JSON.stringify({
    order: p.order,
    appliesTo: { plane: p.appliesTo.plane, roles: p.appliesTo.roles ? [...p.appliesTo.roles].sort() : null },
    ingress: p.ingress.map(ruleText),
    egress: p.egress.map(ruleText),
  });
}

function describeChange(imported: Policy, builtin: Policy): string {
  const parts: string[] = [];
  if (imported.order !== builtin.order) parts.push(`order ${builtin.order} -> ${imported.order}`);
  const applies = (p: Policy) =>
    `${p.appliesTo.plane}${p.appliesTo.roles ? ` [${[...p.appliesTo.roles].sort().join(',')}]` : ''}`;
  if (applies(imported) !== applies(builtin)) parts.push(`applies to ${applies(builtin)} -> ${applies(imported)}`);
  for (const dir of ['ingress', 'egress'] as const) {
    const a = imported[dir].map(ruleText);
    const b = builtin[dir].map(ruleText);
    const added = a.filter((x) => !b.includes(x)).length;
    const removed = b.filter((x) => !a.includes(x)).length;
    if (added || removed) parts.push(`${dir}: ${added} rule(s) not built in, ${removed} built-in rule(s) absent`);
    else if (a.join() !== b.join()) parts.push(`${dir}: the same rules in another order`);
  }
  return parts.join('; ');
}

export interface PolicyComparison {
  lines: string[];
  /** Empty policies named after the built-in ones Calico does not have: appended, they switch those off. */
  disable: RawPolicy[];
}

export function compareWithBuiltins(imported: RawPolicy[]): PolicyComparison {
  const builtins = builtinPolicies();
  const lines: string[] = [];
  const parsed = imported.map((raw, i) => parsePolicy(raw, [i], () => {}, 'config'));
  for (const p of parsed) {
    if (!p) continue;
    const b = builtins.find((x) => x.name === p.name);
    if (!b)
      lines.push(
        `added: ${p.name} (order ${p.order}, ${p.appliesTo.plane}${p.appliesTo.roles ? ` [${p.appliesTo.roles.join(', ')}]` : ''})`,
      );
    else if (meaning(p) === meaning(b)) lines.push(`same: ${p.name}`);
    else lines.push(`changed: ${p.name}: ${describeChange(p, b)}`);
  }
  const disable: RawPolicy[] = [];
  for (const raw of BUILTIN_POLICIES) {
    if (imported.some((p) => p.name === raw.name)) continue;
    lines.push(
      `missing: ${raw.name}: Calico has no such policy; written as an empty policy of that name, which switches the built-in one off`,
    );
    disable.push({
      name: raw.name,
      ...(raw.order !== undefined ? { order: raw.order } : {}),
      appliesTo: raw.appliesTo,
      ingress: [],
      egress: [],
    });
  }
  return { lines, disable };
}
