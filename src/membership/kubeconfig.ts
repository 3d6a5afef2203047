// A kubeconfig read the way kubectl reads it (pure): the current context, its
// cluster and user; certificate-authority(-data), client-certificate(-data) /
// client-key(-data), token, tokenFile; relative paths from the kubeconfig's
// folder. The YAML parser and the schema checks are libraries (`yaml`, zod);
// what is left is the few lookups kubectl makes. Anything that would weaken or
// bypass TLS (insecure-skip-tls-verify, a proxy) or run a program (exec,
// auth-provider) is refused with the field that asks for it.
import path from 'node:path';
import { z } from 'zod';
import { type FieldPath, parseYaml, problemAt, type YamlSource } from '../config/yaml-source.js';
import { zodProblems } from '../config/zod-problems.js';
import { AfwError, type Problem } from '../errors.js';

/** PEM given inline (the -data forms, decoded) or as a file to read. */
export type PemRef = { data: string; field: string } | { file: string; field: string };

export interface ApiAccess {
  kubeconfig: string;
  /** https://host:port, no trailing slash. */
  server: string;
  /** tls-server-name: the name the server certificate must carry, when not the URL's host. */
  serverName?: string;
  ca: PemRef;
  clientCertificate?: PemRef;
  clientKey?: PemRef;
  token?: string;
  /** Read again for every request (projected ServiceAccount tokens rotate). */
  tokenFile?: string;
}

const name = z.string({ error: 'must be a name' }).min(1, { error: 'must be a name' });

const cluster = z.looseObject({
  server: z.string({ error: 'must be the https URL of the API server' }),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean({ error: 'must be true or false' }).optional(),
  'tls-server-name': z.string().optional(),
  'proxy-url': z.string().optional(),
});

const user = z.looseObject({
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
});

const kubeconfigSchema = z.looseObject({
  kind: z.literal('Config', { error: 'must be Config' }).optional(),
  'current-context': z.string({ error: 'must name one of the contexts' }).min(1, { error: 'must name one of the contexts' }),
  clusters: z.array(z.looseObject({ name, cluster }), { error: 'must be a list of clusters' }),
  users: z.array(z.looseObject({ name, user }), { error: 'must be a list of users' }).optional(),
  contexts: z.array(z.looseObject({ name, context: z.looseObject({ cluster: z.string(), user: z.string().optional() }) }), {
    error: 'must be a list of contexts',
  }),
});

type RawKubeconfig = z.infer<typeof kubeconfigSchema>;

/** Fields of a user that would have the agent run a program or send a password: not supported. */
const UNSUPPORTED_USER = ['exec', 'auth-provider', 'username', 'password', 'as'];

function decodePem(text: string, at: FieldPath, report: (p: FieldPath, m: string) => void): string | undefined {
  const clean = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(clean)) {
    report(at, 'is not base64');
    return undefined;
  }
  const pem = Buffer.from(clean, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN ')) {
    report(at, 'does not decode to PEM (no -----BEGIN line)');
    return undefined;
  }
  return pem;
}

export function parseKubeconfig(text: string, file: string): ApiAccess {
  const src = parseYaml(text, file, 'AFW_KUBECONFIG_INVALID');
  const parsed = kubeconfigSchema.safeParse(src.data);
  if (!parsed.success) throw invalid(file, zodProblems(src, parsed.error));
  const problems: Problem[] = [];
  const report = (p: FieldPath, m: string) => problems.push(problemAt(src, p, m));
  const access = resolve(parsed.data, src, report);
  if (problems.length > 0 || !access) throw invalid(file, problems);
  return access;
}

function invalid(file: string, problems: Problem[]): AfwError {
  return new AfwError('AFW_KUBECONFIG_INVALID', `${file}: ${problems.length} problem(s) in the kubeconfig`, { problems });
}

function resolve(raw: RawKubeconfig, src: YamlSource, report: (p: FieldPath, m: string) => void): ApiAccess | undefined {
  const dir = path.dirname(src.file);
  const ctxIndex = raw.contexts.findIndex((c) => c.name === raw['current-context']);
  if (ctxIndex < 0) {
    report(
      ['current-context'],
      `"${raw['current-context']}" is not among the contexts (${raw.contexts.map((c) => c.name).join(', ') || 'none'})`,
    );
    return undefined;
  }
  const ctx = raw.contexts[ctxIndex]!.context;
  const clIndex = raw.clusters.findIndex((c) => c.name === ctx.cluster);
  if (clIndex < 0) {
    report(['contexts', ctxIndex, 'context', 'cluster'], `no cluster named "${ctx.cluster}"`);
    return undefined;
  }
  const users = raw.users ?? [];
  const uIndex = ctx.user === undefined ? -1 : users.findIndex((u) => u.name === ctx.user);
  if (uIndex < 0) {
    report(
      ['contexts', ctxIndex, 'context', 'user'],
      ctx.user === undefined ? 'names no user: the agent needs credentials' : `no user named "${ctx.user}"`,
    );
    return undefined;
  }
  const c = raw.clusters[clIndex]!.cluster;
  const u = users[uIndex]!.user;
  const cAt = ['clusters', clIndex, 'cluster'];
  const uAt = ['users', uIndex, 'user'];

  let server = c.server;
  try {
    const url = new URL(c.server);
    if (url.protocol !== 'https:')
      report([...cAt, 'server'], `"${c.server}" is not https: the agent talks to the API server over TLS only`);
    if (url.pathname !== '/' && url.pathname !== '')
      report([...cAt, 'server'], `"${c.server}": a path after the host is not supported`);
    server = `${url.protocol}//${url.host}`;
  } catch {
    report([...cAt, 'server'], `"${c.server}" is not a URL (e.g. https://127.0.0.1:7443)`);
  }
  if (c['insecure-skip-tls-verify'] === true) {
    report(
      [...cAt, 'insecure-skip-tls-verify'],
      'refused: the agent always verifies the API server certificate (give certificate-authority)',
    );
  }
  if (c['proxy-url'] !== undefined) report([...cAt, 'proxy-url'], 'not supported: the agent connects to the API server directly');

  const pem = (base: FieldPath, fileKey: string, dataKey: string, obj: Record<string, unknown>): PemRef | undefined => {
    const fileVal = obj[fileKey] as string | undefined;
    const dataVal = obj[dataKey] as string | undefined;
    if (fileVal !== undefined && dataVal !== undefined) {
      report([...base, dataKey], `give ${fileKey} or ${dataKey}, not both`);
      return undefined;
    }
    if (dataVal !== undefined) {
      const data = decodePem(dataVal, [...base, dataKey], report);
      return data === undefined ? undefined : { data, field: dataKey };
    }
    if (fileVal !== undefined) return { file: path.resolve(dir, fileVal), field: fileKey };
    return undefined;
  };

  const ca = pem(cAt, 'certificate-authority', 'certificate-authority-data', c);
  if (!ca && c['certificate-authority'] === undefined && c['certificate-authority-data'] === undefined) {
    report(
      cAt,
      'gives no certificate-authority or certificate-authority-data: the agent verifies the API server against the cluster CA',
    );
  }
  for (const key of UNSUPPORTED_USER) {
    if (u[key] !== undefined) report([...uAt, key], 'not supported: give a client certificate, a token or a tokenFile');
  }
  const cert = pem(uAt, 'client-certificate', 'client-certificate-data', u);
  const key = pem(uAt, 'client-key', 'client-key-data', u);
  if ((cert === undefined) !== (key === undefined)) {
    report(uAt, cert ? 'a client certificate without its client-key' : 'a client-key without its client certificate');
  }
  if (u.token !== undefined && u.tokenFile !== undefined) report([...uAt, 'tokenFile'], 'give token or tokenFile, not both');
  if (u.token !== undefined && !/^[\x21-\x7e]+$/.test(u.token))
    report([...uAt, 'token'], 'is empty or holds spaces or control characters');
  if (!cert && u.token === undefined && u.tokenFile === undefined) {
    report(uAt, 'gives no credentials: client-certificate and client-key, token, or tokenFile');
  }
  if (!ca) return undefined;
  return {
    kubeconfig: src.file,
    server,
    ...(c['tls-server-name'] ? { serverName: c['tls-server-name'] } : {}),
    ca,
    ...(cert && key ? { clientCertificate: cert, clientKey: key } : {}),
    ...(u.token !== undefined ? { token: u.token } : {}),
    ...(u.tokenFile !== undefined ? { tokenFile: path.resolve(dir, u.tokenFile) } : {}),
  };
}
