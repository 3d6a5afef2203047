// Reads the kubeconfig and the files it names (the I/O half of kubeconfig.ts):
// the CA, client certificate and key once, at start and at each reload; the
// token file at every request, because projected ServiceAccount tokens rotate.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { AfwError } from '../errors.js';
import { type ApiAccess, type PemRef, parseKubeconfig } from './kubeconfig.js';

export interface ApiCredentials {
  server: string;
  serverName?: string;
  ca: string;
  cert?: string;
  key?: string;
  /** The bearer token for the next request, if any. */
  token(): string | undefined;
}

function readRef(ref: PemRef, kubeconfig: string): string {
  if ('data' in ref) return ref.data;
  try {
    const text = readFileSync(ref.file, 'utf8');
    if (!text.includes('-----BEGIN ')) throw new Error('not PEM (no -----BEGIN line)');
    return text;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AfwError('AFW_KUBECONFIG_INVALID', `${kubeconfig}: ${ref.field} ${ref.file}: ${why}`, { cause: err });
  }
}

function readToken(file: string, kubeconfig: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AfwError(
      'AFW_KUBECONFIG_INVALID',
      `${kubeconfig}: tokenFile ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      {
        cause: err,
      },
    );
  }
  if (!/^[\x21-\x7e]+$/.test(text)) {
    throw new AfwError('AFW_KUBECONFIG_INVALID', `${kubeconfig}: tokenFile ${file}: empty, or not a single token`);
  }
  return text;
}

export function credentialsFrom(access: ApiAccess): ApiCredentials {
  const { kubeconfig, tokenFile, token } = access;
  // A missing or unreadable token file is an error now, not at the first request.
  if (tokenFile) readToken(tokenFile, kubeconfig);
  return {
    server: access.server,
    ...(access.serverName ? { serverName: access.serverName } : {}),
    ca: readRef(access.ca, kubeconfig),
    ...(access.clientCertificate && access.clientKey
      ? { cert: readRef(access.clientCertificate, kubeconfig), key: readRef(access.clientKey, kubeconfig) }
      : {}),
    token: () => (tokenFile ? readToken(tokenFile, kubeconfig) : token),
  };
}

export async function loadCredentials(kubeconfig: string): Promise<ApiCredentials> {
  let text: string;
  try {
    text = await readFile(kubeconfig, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new AfwError('AFW_KUBECONFIG_INVALID', `${kubeconfig}: cannot read the kubeconfig: ${why}`, { cause: err });
  }
  return credentialsFrom(parseKubeconfig(text, kubeconfig));
}
