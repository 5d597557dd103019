/**
 * The product's configuration is the product's: the worker's and the ingress' schema names no
 * sandbox or toolchain variable, so a sandbox setting can neither stop nor change them; the
 * sandboxes and the local stack validate their own (dev/sandbox/env.ts, dev/local/env.ts) under
 * the same public names.
 */
import { ConfigError, envSchema, parseEnv } from '../../src/config/env';
import { parseSandboxPorts } from '../../src/config/local-sandboxes';
import { localEnvSchema } from '../../dev/local/env';
import { parseSandboxEnv } from '../../dev/sandbox/env';

const DEV_ONLY = /SANDBOX|^TEMPORAL_(CLI|TEST_SERVER)_PATH$/;

test('the product schema knows no sandbox or toolchain variable; the local stack\'s knows them all', () => {
  expect(Object.keys(envSchema.shape).filter((name) => DEV_ONLY.test(name))).toEqual([]);
  expect(Object.keys(localEnvSchema.shape).filter((name) => DEV_ONLY.test(name)).sort()).toEqual([
    'KISI_SANDBOX_PORT',
    'KISI_SANDBOX_WEBHOOK_SECRET',
    'NEXUDUS_SANDBOX_FAULTS',
    'NEXUDUS_SANDBOX_INGRESS_URL',
    'NEXUDUS_SANDBOX_PORT',
    'NEXUDUS_SANDBOX_SEED',
    'NEXUDUS_SANDBOX_TIME_FORMAT',
    'NEXUDUS_SANDBOX_WEBHOOK_SECRET',
    'TEMPORAL_CLI_PATH',
    'TEMPORAL_TEST_SERVER_PATH',
  ]);
});

test('a bad sandbox setting is the sandbox\'s error, not the worker\'s or the ingress\'', () => {
  const source = { KISI_SANDBOX_PORT: 'port-forty', NEXUDUS_SANDBOX_TIME_FORMAT: 'sundial' };
  const product = parseEnv(source);
  expect(product).not.toHaveProperty('KISI_SANDBOX_PORT');
  const error = (() => {
    try {
      parseSandboxEnv(source);
    } catch (e) {
      return e;
    }
  })();
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).problems).toEqual([expect.stringMatching(/^KISI_SANDBOX_PORT: expected a TCP port number/), expect.stringMatching(/^NEXUDUS_SANDBOX_TIME_FORMAT:/)]);
  expect(() => parseSandboxPorts(source)).toThrow('KISI_SANDBOX_PORT: expected a TCP port number');
});

test('the sandbox settings keep their names and defaults', () => {
  expect(parseSandboxEnv({})).toMatchObject({ PORT: 3000, KISI_SANDBOX_PORT: 4010, NEXUDUS_SANDBOX_PORT: 4020, NEXUDUS_SANDBOX_TIME_FORMAT: 'utc-z' });
  expect(parseSandboxEnv({ NEXUDUS_SANDBOX_SEED: ' ', KISI_SANDBOX_WEBHOOK_SECRET: 's3cret' })).toMatchObject({ NEXUDUS_SANDBOX_SEED: undefined, KISI_SANDBOX_WEBHOOK_SECRET: 's3cret' });
});
