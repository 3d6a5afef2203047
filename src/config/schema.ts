// The shape of config.yaml and inventory.yaml as zod schemas. Objects are strict:
// an unknown field is an error, because a typo must never silently weaken the
// firewall. Leaf values that need more than a type check (addresses, ports,
// failsafe entries) are checked afterwards in validate-*.ts, where the messages
// can say exactly what is wrong.
import { z } from 'zod';
import { ROLES } from './model.js';

export const API_VERSION = 'artesca-fw/v1';

const apiVersion = z.literal(API_VERSION, { error: `must be "${API_VERSION}"` });
const role = z.enum(ROLES, { error: `must be one of: ${ROLES.join(', ')}` });
const plane = z.enum(['controlPlane', 'workloadPlane'], { error: 'must be controlPlane or workloadPlane' });
const oneOrMany = z.union([z.string(), z.array(z.string()).min(1)], {
  error: 'must be a string or a non-empty list of strings',
});
const port = z.union([z.number(), z.string()], { error: 'must be a port number or a "low-high" range' });
const protocol = z.union([z.string(), z.number()], {
  error: 'must be tcp, udp, icmp, icmpv6, vrrp, ipip or a protocol number 0-255',
});

const peer = z.strictObject({
  plane: plane.optional(),
  roles: z.array(role).optional(),
  cidrs: z.array(z.string()).min(1).optional(),
});

const ruleCommon = {
  action: z.enum(['allow', 'deny', 'log'], { error: 'must be allow, deny or log' }),
  protocol: protocol.optional(),
  ports: z.array(port).min(1).optional(),
  comment: z.string().max(200).optional(),
};

export const ingressRuleSchema = z.strictObject({ ...ruleCommon, from: peer.optional() });
export const egressRuleSchema = z.strictObject({ ...ruleCommon, to: peer.optional() });

export const policySchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
    error: 'must be lowercase letters, digits and dashes (at most 63), starting with a letter or digit',
  }),
  order: z.number().int().min(0).max(1_000_000).optional(),
  appliesTo: z.strictObject({ plane, roles: z.array(role).optional() }),
  ingress: z.array(ingressRuleSchema).optional(),
  egress: z.array(egressRuleSchema).optional(),
});

const planeNetwork = z.strictObject({
  cidr: oneOrMany.optional(),
  interface: z.string().optional(),
});

/** Where a plane IP is on a Node: exactly one of the three (checked in validate-config.ts). */
const nodeIpSource = z.strictObject({
  addressType: z.string().optional(),
  annotation: z.string().optional(),
  cidr: z.literal('fromPlane', { error: 'must be fromPlane' }).optional(),
});

/** A whole number from min to max, with the range in the message. */
function wholeNumber(min: number, max: number) {
  const error = `must be a whole number from ${min} to ${max.toLocaleString('en-US')}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

export const kubernetesSchema = z.strictObject({
  kubeconfig: z.string({ error: 'must be the path of a kubeconfig file' }).min(1, { error: 'must not be empty' }),
  roleLabelPrefix: z.string().optional(),
  controlPlaneIP: nodeIpSource.optional(),
  workloadPlaneIP: nodeIpSource.optional(),
  maxShrink: z
    .number({ error: 'must be a number from 0 to 1' })
    .min(0, { error: 'must be a number from 0 to 1' })
    .max(1, { error: 'must be a number from 0 to 1' })
    .optional(),
  watchTimeoutSeconds: z
    .number({ error: 'must be a whole number of seconds, 5 to 3600' })
    .int({ error: 'must be a whole number of seconds, 5 to 3600' })
    .min(5, { error: 'must be a whole number of seconds, 5 to 3600' })
    .max(3600, { error: 'must be a whole number of seconds, 5 to 3600' })
    .optional(),
});

export const configSchema = z.strictObject({
  apiVersion,
  node: z.strictObject({
    name: z.string().min(1).optional(),
    roles: z.array(role).optional(),
  }),
  networks: z.strictObject({
    controlPlane: planeNetwork,
    workloadPlane: planeNetwork,
  }),
  virtualIPs: z
    .strictObject({
      management: z.array(z.string()).optional(),
      data: z.array(z.string()).optional(),
    })
    .optional(),
  inventory: z.strictObject({ file: z.string().min(1).optional(), kubernetes: kubernetesSchema.optional() }),
  mode: z.enum(['enforce', 'audit'], { error: 'must be enforce or audit' }).optional(),
  denyAction: z.enum(['drop', 'reject'], { error: 'must be drop or reject' }).optional(),
  logDrops: z.boolean({ error: 'must be true or false' }).optional(),
  icmp: z.enum(['essential', 'all', 'none'], { error: 'must be essential, all or none' }).optional(),
  // A preset's name (checked in validate-config.ts), or the lists themselves.
  failsafe: z
    .union(
      [
        z.string(),
        z.strictObject({
          inbound: z.array(z.string()).optional(),
          outbound: z.array(z.string()).optional(),
        }),
      ],
      { error: 'must be a preset name (calico) or { inbound: [...], outbound: [...] }' },
    )
    .optional(),
  status: z.strictObject({ listen: z.string().optional() }).optional(),
  metrics: z.strictObject({ listen: z.string().optional() }).optional(),
  denied: z
    .strictObject({
      record: z.boolean({ error: 'must be true or false' }).optional(),
      maxFlows: wholeNumber(1, 1_000_000).optional(),
      nflogGroup: wholeNumber(1, 65_535).optional(),
      packetsPerSecond: wholeNumber(1, 10_000).optional(),
    })
    .optional(),
  verify: z.strictObject({ intervalSeconds: wholeNumber(0, 86_400).optional() }).optional(),
  stateDir: z.string().min(1).optional(),
  backend: z.enum(['auto', 'legacy', 'nft'], { error: 'must be auto, legacy or nft' }).optional(),
  policies: z.array(policySchema).optional(),
});

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

const inventoryNodeSchema = z.strictObject({
  name: z.string().regex(NODE_NAME, {
    error: 'must be a host name (letters, digits, dots, dashes, underscores)',
  }),
  roles: z.array(role),
  controlPlaneIP: oneOrMany,
  workloadPlaneIP: oneOrMany,
});

export const inventorySchema = z.strictObject({
  apiVersion,
  nodes: z.array(inventoryNodeSchema).min(1, { error: 'the inventory lists no nodes' }),
});

const NODE_FIELDS = Object.keys(inventoryNodeSchema.shape);
const ROLE_NAMES: ReadonlySet<string> = new Set(ROLES);

function isStringList(v: unknown, minLength: number): v is string[] {
  if (!Array.isArray(v) || v.length < minLength) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

/**
 * Whether an inventory item is plainly one zod's node schema takes as it is:
 * exactly its four fields, each of the simplest type it allows. The schema
 * stays the judge (an item this refuses is checked by zod, which accepts it or
 * says what is wrong): this only spares zod's per-field work and copies for
 * the thousands of items that are plainly right, on every load. It must never
 * take an item zod refuses (test/unit/inventory-shape.test.ts). Loops, no
 * callbacks: it runs cold, once per item, in every command.
 */
export function isPlainInventoryNode(item: unknown): boolean {
  if (item === null || typeof item !== 'object' || Object.getPrototypeOf(item) !== Object.prototype) return false;
  const o = item as Record<string, unknown>;
  if (Object.keys(o).length !== NODE_FIELDS.length) return false;
  for (let i = 0; i < NODE_FIELDS.length; i++) if (!Object.hasOwn(o, NODE_FIELDS[i]!)) return false;
  if (typeof o.name !== 'string' || !NODE_NAME.test(o.name)) return false;
  const roles = o.roles;
  if (!isStringList(roles, 0)) return false;
  for (let i = 0; i < roles.length; i++) if (!ROLE_NAMES.has(roles[i]!)) return false;
  const cp = o.controlPlaneIP;
  const wp = o.workloadPlaneIP;
  return (typeof cp === 'string' || isStringList(cp, 1)) && (typeof wp === 'string' || isStringList(wp, 1));
}

export type RawConfig = z.infer<typeof configSchema>;
export type RawKubernetes = z.infer<typeof kubernetesSchema>;
export type RawInventory = z.infer<typeof inventorySchema>;
export type RawPolicy = z.infer<typeof policySchema>;
export type RawIngressRule = z.infer<typeof ingressRuleSchema>;
export type RawEgressRule = z.infer<typeof egressRuleSchema>;
