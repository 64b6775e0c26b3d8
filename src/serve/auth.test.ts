import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AUTH_WINDOW_MS,
  Authenticator,
  MAX_AUTH_FAILURES,
  checkToken,
  isLoopbackHost,
} from './auth.js';

const TOKEN = 'c2VjcmV0LXRva2VuLWZvci10ZXN0cw==';

test('accepts the right bearer token and refuses a missing or wrong one with 401', () => {
  const auth = new Authenticator(TOKEN, () => 0);
  assert.equal(auth.check('198.18.0.1', `Bearer ${TOKEN}`, false), undefined);
  assert.equal(auth.check('198.18.0.1', `bearer  ${TOKEN}`, false), undefined);
  assert.deepEqual(auth.check('198.18.0.1', undefined, false)?.status, 401);
  assert.match(auth.check('198.18.0.1', undefined, false)!.message, /Authorization: Bearer/);
  assert.equal(auth.check('198.18.0.1', `Bearer ${TOKEN}x`, false)?.message, 'the token is wrong');
  assert.equal(auth.check('198.18.0.1', `Bearer ${TOKEN.slice(0, -1)}`, false)?.status, 401);
  assert.equal(auth.check('198.18.0.1', `Basic ${TOKEN}`, false)?.status, 401);
  assert.equal(auth.failures, 5);
});

test('an address that fails too often is refused unchecked (429) until its window ends', () => {
  let now = 1000;
  const auth = new Authenticator(TOKEN, () => now);
  for (let i = 0; i < MAX_AUTH_FAILURES; i++)
    assert.equal(auth.check('a', 'Bearer nope', false)?.status, 401);
  assert.equal(
    auth.check('a', `Bearer ${TOKEN}`, false)?.status,
    429,
    'even the right token waits',
  );
  assert.equal(
    auth.check('b', `Bearer ${TOKEN}`, false),
    undefined,
    'other addresses are not affected',
  );
  assert.equal(auth.rateLimited, 1);
  assert.equal(auth.failures, MAX_AUTH_FAILURES);
  now += AUTH_WINDOW_MS;
  assert.equal(auth.check('a', `Bearer ${TOKEN}`, false), undefined);
});

test('the failure table stays bounded under many addresses', () => {
  const auth = new Authenticator(TOKEN, () => 0);
  for (let i = 0; i < 10_050; i++) auth.check(`198.18.${i >> 8}.${i & 255}`, undefined, false);
  assert.equal(auth.droppedAddresses, 50);
});

test('without a token reads pass and state-changing requests are refused with 403', () => {
  const auth = new Authenticator(undefined, () => 0);
  assert.equal(auth.check('a', undefined, false), undefined);
  assert.equal(auth.check('a', undefined, true)?.status, 403);
  assert.match(auth.check('a', undefined, true)!.message, /--token-file or PIDFLOW_TOKEN/);
  auth.setToken(TOKEN);
  assert.equal(auth.check('a', `Bearer ${TOKEN}`, true), undefined);
});

test('loopback addresses and token forms', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
    assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '198.18.0.1', 'fd42:6e66::1', 'example.org'])
    assert.ok(!isLoopbackHost(h), h);
  assert.throws(() => checkToken('short', 'PIDFLOW_TOKEN'), {
    code: 'ERR_USAGE',
    message: /PIDFLOW_TOKEN has 5 characters; use at least 16/,
  });
  assert.throws(() => checkToken('has a space in it ok', 'x'), /printable ASCII/);
  assert.equal(checkToken(`  ${TOKEN}\n`, 'x'), TOKEN);
});
