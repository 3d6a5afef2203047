// Every error artesca-fw can report, each with a stable code (the model is
// fastify's lib/errors.js). Operators and scripts match on the code; the text
// may improve between versions, the code may not change.

export const ERRORS = {
  AFW_USAGE: { exit: 2, what: 'the command line is wrong' },
  AFW_FILE_READ: { exit: 1, what: 'a config or inventory file cannot be read' },
  AFW_YAML_SYNTAX: { exit: 1, what: 'a file is not valid YAML' },
  AFW_CONFIG_INVALID: { exit: 1, what: 'the config does not validate' },
  AFW_INVENTORY_INVALID: { exit: 1, what: 'the inventory does not validate' },
  AFW_KUBECONFIG_INVALID: { exit: 1, what: 'the kubeconfig of inventory.kubernetes cannot be used' },
  AFW_APISERVER: { exit: 1, what: 'the Kubernetes API server cannot be reached, refuses the agent, or answers nonsense' },
  AFW_MEMBERSHIP_REFUSED: {
    exit: 1,
    what: 'the Nodes from the API server lack the local node or shrank beyond maxShrink: not used',
  },
  AFW_CLUSTER_MISMATCH: { exit: 1, what: 'config and inventory disagree about this node' },
  AFW_INTERFACE_UNRESOLVED: { exit: 1, what: 'no local interface matches a plane' },
  AFW_NOT_ROOT: { exit: 1, what: 'the command needs root (CAP_NET_ADMIN)' },
  AFW_TOOL_MISSING: { exit: 1, what: 'iptables, ip6tables or ipset is not installed' },
  AFW_BACKEND: { exit: 1, what: 'the iptables backend cannot be used or detected' },
  AFW_IPSET_FAILED: { exit: 1, what: 'ipset refused a batch' },
  AFW_IPTABLES_FAILED: { exit: 1, what: 'iptables-restore refused a batch' },
  AFW_VERIFY_FAILED: { exit: 1, what: 'what is live differs from what was loaded' },
  AFW_ROLLBACK_FAILED: { exit: 1, what: 'a failed load could not be rolled back completely' },
  AFW_STATE_MISSING: { exit: 1, what: 'there is no last-known-good ruleset in the state dir' },
  AFW_STATE_CORRUPT: {
    exit: 1,
    what: 'a state file (last-known-good, pending trial, rolled back) is damaged or tampered with; it is not loaded',
  },
  AFW_STATE_WRITE: { exit: 1, what: 'the state dir cannot be written' },
  AFW_NOT_CONFIRMED: { exit: 1, what: 'a trial ruleset (apply --confirm) was not confirmed and was rolled back' },
  AFW_CONFIRM_REFUSED: {
    exit: 1,
    what: 'confirm found no trial to keep: none pending, its window closed, or its ruleset is no longer the live one',
  },
  AFW_LOCK_TIMEOUT: { exit: 1, what: 'another writer held the write lock of this network namespace for too long' },
  AFW_LOCK_FAILED: { exit: 1, what: 'the write lock cannot be taken at all' },
  AFW_CONNTRACK_FAILED: { exit: 1, what: 'the connection tracking table cannot be read (conntrack -L)' },
  AFW_IMPORT_REFUSED: { exit: 1, what: 'Calico resources hold something artesca-fw cannot express exactly: nothing written' },
  AFW_DAEMON_UNREACHABLE: { exit: 1, what: 'the running agent does not answer' },
  AFW_INTERNAL: { exit: 1, what: 'a bug in artesca-fw' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Where in a file a problem is: every config error carries one when it can. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
  /** Dotted path of the field, e.g. `networks.controlPlane.cidr` or `nodes[2].roles[0]`. */
  field: string;
}

export interface Problem {
  message: string;
  where?: SourcePosition;
}

/** Formats one problem as the one-line form the contract promises: `FILE:LINE:COL: field: problem`. */
export function formatProblem(p: Problem): string {
  if (!p.where) return p.message;
  const { file, line, col, field } = p.where;
  return field ? `${file}:${line}:${col}: ${field}: ${p.message}` : `${file}:${line}:${col}: ${p.message}`;
}

export class AfwError extends Error {
  readonly code: ErrorCode;
  readonly problems: Problem[];
  /** For tool failures: which step failed (e.g. `ipset restore`, `iptables-restore -t mangle`). */
  readonly step?: string;

  constructor(code: ErrorCode, message: string, opts: { problems?: Problem[]; step?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AfwError';
    this.code = code;
    this.problems = opts.problems ?? [];
    if (opts.step !== undefined) this.step = opts.step;
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }

  /** The lines printed on stderr: one per problem, or the message alone. */
  lines(): string[] {
    if (this.problems.length > 0) return this.problems.map(formatProblem);
    return [this.message];
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.step ? { step: this.step } : {}),
      problems: this.problems.map((p) => ({ message: p.message, ...(p.where ?? {}), text: formatProblem(p) })),
    };
  }
}

export function asAfwError(err: unknown): AfwError {
  if (err instanceof AfwError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new AfwError('AFW_INTERNAL', msg, { cause: err });
}
