// A throwaway PKI for the test API server, made with openssl: a cluster CA, a
// server certificate for the addresses the tests use, a client certificate the
// server accepts, and a second CA nobody trusts (for the refusals).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Pki {
  dir: string;
  caFile: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCertFile: string;
  clientKeyFile: string;
  clientCert: string;
  clientKey: string;
  /** A certificate and key signed by another CA: the server must refuse them. */
  strangerCertFile: string;
  strangerKeyFile: string;
  strangerCaFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyAndCert(dir: string, name: string, subject: string, signer?: { cert: string; key: string }, ext?: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  if (!signer) {
    openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', subject, '-days', '2', '-out', `${name}.crt`], dir);
    return;
  }
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  const extArgs = ext ? ['-extfile', `${name}.ext`] : [];
  if (ext) writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      signer.cert,
      '-CAkey',
      signer.key,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.crt`,
      ...extArgs,
    ],
    dir,
  );
}

/** `serverIps`: the addresses the server certificate names (127.0.0.1 is always one). */
export function makePki(dir: string, serverIps: string[] = []): Pki {
  keyAndCert(dir, 'ca', '/CN=test-cluster-ca');
  const ca = { cert: 'ca.crt', key: 'ca.key' };
  const san = ['DNS:kubernetes', 'DNS:localhost', 'IP:127.0.0.1', ...serverIps.map((ip) => `IP:${ip}`)].join(',');
  keyAndCert(dir, 'server', '/CN=kube-apiserver', ca, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  keyAndCert(dir, 'client', '/O=artesca-fw/CN=artesca-fw', ca, 'extendedKeyUsage=clientAuth\n');
  keyAndCert(dir, 'stranger-ca', '/CN=another-ca');
  keyAndCert(
    dir,
    'stranger',
    '/CN=artesca-fw',
    { cert: 'stranger-ca.crt', key: 'stranger-ca.key' },
    'extendedKeyUsage=clientAuth\n',
  );
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    ca: read('ca.crt'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCertFile: path.join(dir, 'client.crt'),
    clientKeyFile: path.join(dir, 'client.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    strangerCertFile: path.join(dir, 'stranger.crt'),
    strangerKeyFile: path.join(dir, 'stranger.key'),
    strangerCaFile: path.join(dir, 'stranger-ca.crt'),
  };
}

/** A kubeconfig as kubectl writes it. */
export function kubeconfigText(opts: {
  server: string;
  caFile?: string;
  caData?: string;
  certFile?: string;
  keyFile?: string;
  token?: string;
  tokenFile?: string;
  extraCluster?: string;
  extraUser?: string;
}): string {
  const cluster = [
    `    server: ${opts.server}`,
    ...(opts.caFile ? [`    certificate-authority: ${opts.caFile}`] : []),
    ...(opts.caData ? [`    certificate-authority-data: ${Buffer.from(opts.caData).toString('base64')}`] : []),
    ...(opts.extraCluster ? [opts.extraCluster] : []),
  ];
  const user = [
    ...(opts.certFile ? [`    client-certificate: ${opts.certFile}`] : []),
    ...(opts.keyFile ? [`    client-key: ${opts.keyFile}`] : []),
    ...(opts.token ? [`    token: ${opts.token}`] : []),
    ...(opts.tokenFile ? [`    tokenFile: ${opts.tokenFile}`] : []),
    ...(opts.extraUser ? [opts.extraUser] : []),
  ];
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
${cluster.join('\n')}
users:
- name: artesca-fw
  user:
${user.length ? user.join('\n') : '    {}'}
contexts:
- name: artesca-fw@test
  context:
    cluster: test
    user: artesca-fw
current-context: artesca-fw@test
`;
}
