/**
 * A Kisi sandbox on a free port with the contract check wired in: every answer it gives and every
 * request a KisiClient made by `client()` sends is held against Kisi's OpenAPI description. Tests
 * call `expectContractClean()` (usually in afterEach) so a violation fails the test that caused it.
 */
import { KisiClient, type KisiClientOptions, type KisiExchange } from '../../src/clients/kisi';
import { createKisiSandbox, type KisiSandbox, type KisiSandboxOptions } from '../../dev/sandbox/kisi';
import { kisiExchangeProblems, sandboxExchangeProblems, assertConforms } from '../contract/kisi-contract';

let keyCounter = 0;
/** A fresh API key: pacers and the sandbox's limit are per key, so tests do not slow each other. */
export function freshKisiKey(label = 'test'): string {
  keyCounter++;
  return `${label}-${process.pid}-${keyCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface KisiHarness {
  sandbox: KisiSandbox;
  url: string;
  /** Every exchange of clients made here, in completion order. */
  exchanges: KisiExchange[];
  /** Contract problems seen so far (client requests/answers and sandbox answers). */
  problems(): string[];
  /** Throws when any contract problem was seen, then forgets them. */
  expectContractClean(): void;
  client(options?: Partial<KisiClientOptions>): KisiClient;
  close(): Promise<void>;
}

export async function startKisiHarness(options: KisiSandboxOptions = {}): Promise<KisiHarness> {
  const sandbox = createKisiSandbox({
    ...options,
    validateResponses: (x) => {
      assertConforms(sandboxExchangeProblems(x));
      options.validateResponses?.(x);
    },
  });
  const server = await sandbox.listen(0);
  const exchanges: KisiExchange[] = [];
  const clientProblems: string[] = [];
  return {
    sandbox,
    url: server.url,
    exchanges,
    problems: () => [...clientProblems, ...sandbox.violations],
    expectContractClean() {
      const all = [...clientProblems, ...sandbox.violations];
      clientProblems.length = 0;
      sandbox.violations.length = 0;
      assertConforms(all);
    },
    client(overrides = {}) {
      return new KisiClient({
        apiKey: freshKisiKey(),
        baseUrl: server.url,
        timeoutMs: 5000,
        ...overrides,
        onExchange: (x) => {
          exchanges.push(x);
          clientProblems.push(...kisiExchangeProblems(x));
          overrides.onExchange?.(x);
        },
      });
    },
    close: () => server.close(),
  };
}

