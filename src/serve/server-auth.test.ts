// The agent's token and TLS end to end on loopback: real HTTPS with certificates made by openssl,
// reloaded in place, and client certificates.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { FakeMonitor } from '../../test/helpers/fake-monitor.js';
import { startServer } from './server.js';

const TOKEN = 'dGhpcy1pcy1hLXRlc3QtdG9rZW4tMTIzNDU=';
const dir = mkdtempSync(join(tmpdir(), 'pidflow-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, and a server (or client) key pair signed by it, CN `name`, for 127.0.0.1. */
function makeCa(name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  );
  return { cert, key };
}

function makeSigned(
  name: string,
  ca: { cert: string; key: string },
): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '2',
    '-extfile',
    ext,
  );
  return { cert, key };
}

interface Answer {
  status: number;
  body: string;
  peer: PeerCertificate;
}

function get(
  url: string,
  options: { ca: string; token?: string; cert?: string; key?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(options.ca),
        ...(options.cert === undefined
          ? {}
          : { cert: readFileSync(options.cert), key: readFileSync(options.key!) }),
        headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            peer: (res.socket as TLSSocket).getPeerCertificate(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('a non-loopback address without a token is refused before anything listens, saying how', async () => {
  await assert.rejects(startServer(new FakeMonitor(), { host: '0.0.0.0', port: 0 }), {
    code: 'ERR_USAGE',
    message: /listening on 0\.0\.0\.0 \(not loopback\) needs a token.*--token-file .*PIDFLOW_TOKEN/,
  });
  await assert.rejects(startServer(new FakeMonitor(), { host: '::', port: 0, token: 'short' }), {
    message: /at least 16/,
  });
});

test('with a token: 401 without it, 200 with it, /metrics accepts it, /healthz stays open, 429 after repeated failures', async () => {
  const server = await startServer(new FakeMonitor(), { port: 0, token: TOKEN, history: false });
  try {
    const bare = await fetch(`${server.url}/api/v1/processes`);
    assert.equal(bare.status, 401);
    assert.equal(bare.headers.get('www-authenticate'), 'Bearer realm="pidflow"');
    assert.equal(
      ((await bare.json()) as { error: { code: string } }).error.code,
      'ERR_UNAUTHORIZED',
    );
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    assert.equal((await fetch(`${server.url}/api/v1/processes`, auth)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`, auth)).status, 200);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    for (let i = 0; i < 8; i++)
      await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal((await fetch(`${server.url}/metrics`, auth)).status, 429);
    // A reload with a new token: the old one stops working (the limit still applies to this address).
    server.reload({ token: `${TOKEN}new` });
  } finally {
    await server.close();
  }
  const again = await startServer(new FakeMonitor(), { port: 0, token: TOKEN, history: false });
  try {
    const metrics = await (
      await fetch(`${again.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    assert.match(metrics, /^pidflow_auth_failures_total 0$/m);
    await fetch(`${again.url}/metrics`);
    const after = await (
      await fetch(`${again.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    assert.match(after, /^pidflow_auth_failures_total 1$/m);
    again.reload({ token: `${TOKEN}new` });
    assert.equal(
      (await fetch(`${again.url}/api/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } }))
        .status,
      401,
    );
    assert.equal(
      (
        await fetch(`${again.url}/api/v1/stats`, {
          headers: { authorization: `Bearer ${TOKEN}new` },
        })
      ).status,
      200,
    );
  } finally {
    await again.close();
  }
});

test('TLS with the given certificate, reloaded in place, and client certificates when asked', async () => {
  const ca = makeCa('ca');
  const first = makeSigned('server1', ca);
  const second = makeSigned('server2', ca);
  const server = await startServer(new FakeMonitor(), {
    port: 0,
    token: TOKEN,
    history: false,
    tls: { certFile: first.cert, keyFile: first.key },
  });
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const a = await get(`${server.url}/api/v1/stats`, { ca: ca.cert, token: TOKEN });
    assert.equal(a.status, 200);
    assert.equal(a.peer.subject.CN, 'server1');
    server.reload({ token: TOKEN, tls: { certFile: second.cert, keyFile: second.key } });
    const b = await get(`${server.url}/api/v1/stats`, { ca: ca.cert, token: TOKEN });
    assert.equal(b.peer.subject.CN, 'server2', 'new connections get the reloaded certificate');
    // A broken file keeps the old certificate and says which file.
    assert.throws(
      () =>
        server.reload({
          token: TOKEN,
          tls: { certFile: join(dir, 'missing.crt'), keyFile: second.key },
        }),
      { code: 'ERR_USAGE', message: /cannot read the TLS certificate .*missing\.crt/ },
    );
    assert.equal((await get(`${server.url}/healthz`, { ca: ca.cert })).peer.subject.CN, 'server2');
  } finally {
    await server.close();
  }

  const clientCa = makeCa('clientca');
  const client = makeSigned('client', clientCa);
  const mtls = await startServer(new FakeMonitor(), {
    port: 0,
    token: TOKEN,
    history: false,
    tls: { certFile: first.cert, keyFile: first.key, clientCaFile: clientCa.cert },
  });
  try {
    await assert.rejects(
      get(`${mtls.url}/healthz`, { ca: ca.cert }),
      'no client certificate: handshake refused',
    );
    const ok = await get(`${mtls.url}/api/v1/stats`, {
      ca: ca.cert,
      token: TOKEN,
      cert: client.cert,
      key: client.key,
    });
    assert.equal(ok.status, 200);
    const m = await get(`${mtls.url}/metrics`, {
      ca: ca.cert,
      token: TOKEN,
      cert: client.cert,
      key: client.key,
    });
    assert.match(m.body, /^pidflow_auth_failures_total [1-9]/m, 'the refused handshake is counted');
  } finally {
    await mtls.close();
  }
});
