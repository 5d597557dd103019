/**
 * Signature checks on their own, against the sandboxes' signers (which copy Nexudus' sample and
 * Kisi's docs), plus the metrics registry's default process metrics.
 */
import { createHmac } from 'node:crypto';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { asciiSubstitute, parseSignatureHeader, verifyKisiSignature, verifyNexudusSignature } from '../../src/ingress/signatures';
import { signKisiBody } from '../../dev/sandbox/kisi';
import { signNexudusBody } from '../../dev/sandbox/nexudus';

const secret = 's3cret';
const ascii = JSON.stringify([{ Id: 1, CoworkerFullName: 'Ada Lovelace' }]);
const accented = JSON.stringify([{ Id: 2, CoworkerFullName: 'Zoë Ångström 👩‍💻' }]);
const bytes = (text: string) => Buffer.from(text, 'utf8');

test('Nexudus: the sandbox\'s upper-case ASCII-encoded signature and a UTF-8 one both verify, in any case', () => {
  for (const body of [ascii, accented]) {
    for (const encoding of ['ascii', 'utf8'] as const) {
      const signature = signNexudusBody(body, secret, encoding);
      expect(verifyNexudusSignature(bytes(body), signature, secret)).toMatchObject({ ok: true });
      expect(verifyNexudusSignature(bytes(body), signature.toLowerCase(), secret)).toMatchObject({ ok: true });
      expect(verifyNexudusSignature(bytes(body), ` ${signature} `, secret)).toMatchObject({ ok: true });
    }
  }
  expect(verifyNexudusSignature(bytes(accented), signNexudusBody(accented, secret, 'ascii'), secret)).toEqual({ ok: true, encoding: 'ascii' });
  expect(verifyNexudusSignature(bytes(accented), signNexudusBody(accented, secret, 'utf8'), secret)).toEqual({ ok: true, encoding: 'utf8' });
});

test('Nexudus: a non-ASCII secret is substituted the same way as the body', () => {
  const key = 'clé-secrète';
  expect(verifyNexudusSignature(bytes(accented), signNexudusBody(accented, key, 'ascii'), key)).toEqual({ ok: true, encoding: 'ascii' });
  expect(verifyNexudusSignature(bytes(accented), signNexudusBody(accented, key, 'utf8'), key)).toEqual({ ok: true, encoding: 'utf8' });
});

test('Nexudus: missing, malformed, another secret\'s, another body\'s signatures are refused', () => {
  expect(verifyNexudusSignature(bytes(ascii), undefined, secret)).toEqual({ ok: false, reason: 'missing' });
  expect(verifyNexudusSignature(bytes(ascii), '  ', secret)).toEqual({ ok: false, reason: 'missing' });
  expect(verifyNexudusSignature(bytes(ascii), 'abc', secret)).toEqual({ ok: false, reason: 'malformed' });
  expect(verifyNexudusSignature(bytes(ascii), signNexudusBody(ascii, secret).slice(1), secret)).toEqual({ ok: false, reason: 'malformed' });
  expect(verifyNexudusSignature(bytes(ascii), signNexudusBody(ascii, 'other'), secret)).toEqual({ ok: false, reason: 'mismatch' });
  expect(verifyNexudusSignature(bytes(ascii), signNexudusBody(accented, secret), secret)).toEqual({ ok: false, reason: 'mismatch' });
  // The ASCII substitute is only a reading of this body, not a wildcard: '?' in place of 'ë' elsewhere is not accepted.
  const question = accented.replace('ë', '?');
  expect(verifyNexudusSignature(bytes(question), signNexudusBody(accented, secret, 'utf8'), secret)).toEqual({ ok: false, reason: 'mismatch' });
});

test('without a secret (development) nothing is checked', () => {
  expect(verifyNexudusSignature(bytes(ascii), undefined, undefined)).toEqual({ ok: true, encoding: 'unsigned' });
  expect(verifyKisiSignature(bytes(ascii), 'garbage', undefined)).toEqual({ ok: true, encoding: 'unsigned' });
});

test('Kisi: sha256=<hex> as the docs show and bare hex as community code sends, any case', () => {
  const body = JSON.stringify({ uuid: 'e1', type: 'lock.unlock' });
  const documented = signKisiBody(body, secret);
  expect(documented).toMatch(/^sha256=[0-9a-f]{64}$/);
  const bare = createHmac('sha256', secret).update(body).digest('hex');
  for (const header of [documented, bare, bare.toUpperCase(), `SHA256=${bare}`]) expect(verifyKisiSignature(bytes(body), header, secret)).toMatchObject({ ok: true });
  expect(verifyKisiSignature(bytes(body), undefined, secret)).toEqual({ ok: false, reason: 'missing' });
  expect(verifyKisiSignature(bytes(body), 'sha256=', secret)).toEqual({ ok: false, reason: 'malformed' });
  expect(verifyKisiSignature(bytes(`${body} `), documented, secret)).toEqual({ ok: false, reason: 'mismatch' });
  // Kisi signs the bytes: no ASCII substitute there.
  const accentedEvent = JSON.stringify({ uuid: 'e2', actor_name: 'Zoë' });
  expect(verifyKisiSignature(bytes(accentedEvent), signKisiBody(accentedEvent.replace('ë', '?'), secret), secret)).toEqual({ ok: false, reason: 'mismatch' });
});

test('header parsing and the ASCII substitute', () => {
  expect(parseSignatureHeader('sha256=' + 'AB'.repeat(32))).toEqual(Buffer.from('ab'.repeat(32), 'hex'));
  expect(parseSignatureHeader('g'.repeat(64))).toBeUndefined();
  expect(asciiSubstitute('Zoë 👩').toString('latin1')).toBe('Zo? ?');
});

test('the metrics registry carries default process metrics unless told not to', async () => {
  expect(await createIngressMetrics().registry.metrics()).toContain('process_cpu_user_seconds_total');
  const lean = await createIngressMetrics({ defaultMetrics: false }).registry.metrics();
  expect(lean).not.toContain('process_cpu_user_seconds_total');
  expect(lean).toContain('ingress_inbox_backlog 0');
});
