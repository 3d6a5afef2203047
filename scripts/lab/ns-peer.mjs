// A test peer that runs inside a network namespace (`ip netns exec NS node ns-peer.mjs`)
// and takes JSON commands on stdin: listen on TCP/UDP ports (echo servers),
// probe a port, hold a connection open and use it later. One line in, one line out.
// Probes are bounded: every connect has a timeout well under a second.
import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';
import readline from 'node:readline';

const servers = [];
const held = new Map();
let nextConn = 1;

function reply(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function listenTcp(port, host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((sock) => {
      sock.on('data', (d) => sock.write(d));
      sock.on('error', () => {});
    });
    srv.on('error', reject);
    srv.listen({ port, host, ipv6Only: false }, () => resolve('listening'));
    servers.push(srv);
  });
}

function bindUdp(port, host) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(host.includes(':') ? { type: 'udp6', ipv6Only: host !== '::' } : 'udp4');
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sock.on('error', reject);
    sock.bind(port, host, () => resolve('listening'));
    servers.push(sock);
  });
}

/**
 * A UDP echo server. On the wildcard address, one socket per local address:
 * a wildcard socket answers from the interface's primary address, not from the
 * address it was asked on (a VIP), and the asker's firewall rightly drops that.
 */
async function listenUdp(port, host) {
  if (host !== '::' && host !== '0.0.0.0') return bindUdp(port, host);
  const addrs = Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
    .map((a) => a.address);
  await Promise.all(addrs.map((a) => bindUdp(port, a)));
  return 'listening';
}

/** 'open', 'refused' (RST or ICMP unreachable) or 'timeout' (dropped). */
function probeTcp(host, port, timeoutMs, keep) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ state: 'timeout' });
    }, timeoutMs);
    sock.on('connect', () => {
      clearTimeout(timer);
      if (keep) {
        const id = nextConn++;
        held.set(id, sock);
        resolve({ state: 'open', conn: id });
      } else {
        sock.destroy();
        resolve({ state: 'open' });
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      resolve({
        state:
          e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' ? 'refused' : 'error',
        code: e.code,
      });
    });
  });
}

function probeUdp(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => {
      sock.close();
      resolve({ state: 'timeout' });
    }, timeoutMs);
    sock.on('message', () => {
      clearTimeout(timer);
      sock.close();
      resolve({ state: 'open' });
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      sock.close();
      resolve({ state: e.code === 'ECONNREFUSED' ? 'refused' : 'error', code: e.code });
    });
    sock.send('ping', port, host);
  });
}

function useHeld(id, timeoutMs) {
  const sock = held.get(id);
  if (!sock || sock.destroyed) return Promise.resolve({ state: 'closed' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.off('data', onData);
      resolve({ state: 'timeout' });
    }, timeoutMs);
    function onData() {
      clearTimeout(timer);
      sock.off('data', onData);
      resolve({ state: 'echoed' });
    }
    sock.on('data', onData);
    sock.write('still there?\n');
  });
}

/** Connects and reads the first line the server sends (an SSH banner), or 'timeout'. */
function banner(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let data = '';
    const done = (result) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ state: data ? 'open' : 'timeout', line: data }), timeoutMs);
    sock.on('data', (d) => {
      data += d.toString();
      if (data.includes('\n')) done({ state: 'open', line: data.split('\n')[0].trim() });
    });
    sock.on('error', (e) => done({ state: e.code === 'ECONNREFUSED' ? 'refused' : 'error', code: e.code }));
  });
}

/** GET on an HTTP server inside this namespace (the agent's status server on loopback). */
async function httpGet(url, timeoutMs) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') };
  } catch (e) {
    return { status: 0, body: String(e?.message ?? e) };
  }
}

/**
 * Forwards TCP connections on `port` to a unix socket (a server running in the
 * test process: filesystem sockets are not tied to a network namespace).
 * The bytes pass untouched, so TLS is end to end.
 */
const forwarders = new Map();
function forward(port, socketPath) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((client) => {
      const upstream = net.connect(socketPath);
      client.pipe(upstream).pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
    srv.on('error', reject);
    srv.listen({ port, host: '::', ipv6Only: false }, () => resolve('forwarding'));
    forwarders.set(port, srv);
  });
}

async function handle(m) {
  switch (m.op) {
    case 'listen':
      return m.proto === 'udp' ? listenUdp(m.port, m.host ?? '::') : listenTcp(m.port, m.host ?? '::');
    case 'probe':
      return m.proto === 'udp'
        ? probeUdp(m.host, m.port, m.timeoutMs ?? 400)
        : probeTcp(m.host, m.port, m.timeoutMs ?? 400, m.keep);
    case 'use':
      return useHeld(m.conn, m.timeoutMs ?? 1000);
    case 'banner':
      return banner(m.host, m.port, m.timeoutMs ?? 1000);
    case 'http':
      return httpGet(m.url, m.timeoutMs ?? 2000);
    case 'forward':
      return forward(m.port, m.socketPath);
    case 'unforward': {
      const srv = forwarders.get(m.port);
      forwarders.delete(m.port);
      if (!srv) return 'not forwarding';
      srv.close();
      srv.closeAllConnections?.();
      return 'stopped';
    }
    case 'close':
      held.get(m.conn)?.destroy();
      held.delete(m.conn);
      return 'closed';
    default:
      throw new Error(`unknown op ${m.op}`);
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    return;
  }
  handle(m).then(
    (result) => reply({ id: m.id, ok: true, result }),
    (err) => reply({ id: m.id, ok: false, error: String(err?.message ?? err) }),
  );
});
process.stdin.on('end', () => process.exit(0));
reply({ id: 0, ok: true, result: 'ready' });
