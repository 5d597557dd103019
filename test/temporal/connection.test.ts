/** Connection options from the environment (src/temporal/connection.ts), without a server. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporalAddress, temporalConnectionOptions, type TemporalEnv } from '../../src/temporal/connection';

const base: TemporalEnv = {
  TEMPORAL_ADDRESS: undefined,
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_API_KEY: undefined,
  TEMPORAL_TLS_CERT_PATH: undefined,
  TEMPORAL_TLS_KEY_PATH: undefined,
  TEMPORAL_TLS_CA_PATH: undefined,
};

function pem(name: string, content: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pem-')), name);
  fs.writeFileSync(file, content);
  return file;
}

test('local dev server by default: plaintext on TEMPORAL_PORT', () => {
  expect(temporalAddress(base)).toBe('localhost:7233');
  expect(temporalAddress({ ...base, TEMPORAL_PORT: 17233 })).toBe('localhost:17233');
  expect(temporalConnectionOptions(base)).toEqual({ address: 'localhost:7233', namespace: 'default', tls: undefined, apiKey: undefined });
});

test('an API key turns TLS on (Temporal Cloud) and TEMPORAL_ADDRESS wins over the port', () => {
  const options = temporalConnectionOptions({ ...base, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'k', TEMPORAL_PORT: 1 });
  expect(options).toEqual({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', tls: {}, apiKey: 'k' });
});

test('mTLS: certificate pair and CA are read from their files', () => {
  const options = temporalConnectionOptions({
    ...base,
    TEMPORAL_TLS_CERT_PATH: pem('client.pem', 'CERT'),
    TEMPORAL_TLS_KEY_PATH: pem('client.key', 'KEY'),
    TEMPORAL_TLS_CA_PATH: pem('ca.pem', 'CA'),
  });
  expect(Buffer.from(options.tls!.clientCertPair!.crt).toString()).toBe('CERT');
  expect(Buffer.from(options.tls!.clientCertPair!.key).toString()).toBe('KEY');
  expect(Buffer.from(options.tls!.serverRootCACertificate!).toString()).toBe('CA');
});

test('a certificate without its key, or an unreadable file, is an error naming the variables', () => {
  expect(() => temporalConnectionOptions({ ...base, TEMPORAL_TLS_CERT_PATH: pem('c.pem', 'C') })).toThrow(
    'TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH: expected both',
  );
  expect(() => temporalConnectionOptions({ ...base, TEMPORAL_TLS_CA_PATH: '/nonexistent/ca.pem' })).toThrow(
    'TEMPORAL_TLS_CA_PATH: expected a readable PEM file, could not read /nonexistent/ca.pem (ENOENT)',
  );
});
