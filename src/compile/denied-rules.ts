// The NFLOG rules that feed the record of denied flows (src/denied/): one
// before each deny decision of an endpoint chain (a policy's deny rule and the
// default deny), so the kernel itself says which rule refused a packet. Pure.
//
// The NFLOG prefix carries the deciding rule: "afw <id> <text>", where the id
// is a short hash of the chain and the rule's comment (stable across reloads,
// unique per rule) and the text is the comment as far as it fits. The agent
// maps the id back to the full comment through recordedRules(); a prefix from
// a ruleset that has since changed still reads as its text.
import { createHash } from 'node:crypto';
import type { Plane } from '../config/model.js';
import type { Direction, Ruleset } from './ruleset.js';

/** NFLOG's prefix holds 64 bytes with the closing NUL. */
const PREFIX_MAX = 63;
/** The packet bytes copied to the reader: the IP and transport headers are all it reads. */
export const NFLOG_SIZE = 128;
const PREFIX_RE = /^afw ([0-9a-f]{6}) (.*)$/;

export interface RecordedRule {
  /** The deciding rule, as `explain` names it (the rule's comment). */
  rule: string;
  direction: Direction;
  /** The planes of the endpoint the rule belongs to (two when they share an interface). */
  planes: Plane[];
}

function ruleId(chain: string, comment: string): string {
  return createHash('sha256').update(`${chain}\0${comment}`).digest('hex').slice(0, 6);
}

/** The NFLOG prefix for the deny rule `comment` of `chain`: plain printable ASCII, at most 63 bytes. */
export function recordPrefix(chain: string, comment: string): string {
  const text = comment.replace(/[^\x20-\x7e]|["'\\]/g, '_');
  return `afw ${ruleId(chain, comment)} ${text}`.slice(0, PREFIX_MAX);
}

/** Splits a prefix read from NFLOG into its id and text; undefined when it is not one of ours. */
export function parseRecordPrefix(prefix: string): { id: string; text: string } | undefined {
  const m = PREFIX_RE.exec(prefix);
  return m ? { id: m[1]!, text: m[2]! } : undefined;
}

/** id -> the deny rule it stands for, for every NFLOG rule of the ruleset. */
export function recordedRules(rs: Ruleset): Map<string, RecordedRule> {
  const byId = new Map<string, RecordedRule>();
  for (const fr of rs.families) {
    for (const chain of fr.chains) {
      for (const rule of chain.rules) {
        const { verdict, origin } = rule;
        if (verdict.kind !== 'nflog' || origin.kind !== 'record') continue;
        const parsed = parseRecordPrefix(verdict.prefix);
        const ep = rs.endpoints.find((e) => e.id === origin.endpoint);
        if (!parsed || !ep) continue;
        byId.set(parsed.id, { rule: origin.rule, direction: origin.direction, planes: [...ep.planes] });
      }
    }
  }
  return byId;
}
