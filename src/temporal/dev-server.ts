/**
 * The local Temporal dev server (`temporal server start-dev`) for `npm start`: persisted to a
 * SQLite file so grants survive a restart, with the product's search attributes registered.
 *
 * Re-registering the same search attributes on an existing db file is accepted by the CLI
 * (verified with CLI 1.9.1 and the Go-built 1.5.1: a restart with the same flags starts and keeps
 * the attributes). A *type change* of an existing attribute is refused by the server; that is
 * surfaced as the server's own error in the log rather than papered over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeCliPairs } from '../domain/search-attributes';
import { ManagedProcess } from '../process/managed-process';
import { closeSafeInterceptors } from './connection';

export interface DevServerOptions {
  /** Path of the temporal CLI executable (from dev/temporal-binaries). */
  executable: string;
  /** SQLite file; its directory is created. */
  dbFilename: string;
  port: number;
  uiPort: number;
  namespace: string;
  ip?: string;
  /** false: no Web UI (`--headless`). */
  ui?: boolean;
  /** The codec endpoint the Web UI decodes payloads with (`--ui-codec-endpoint`), e.g. the ingress' `/codec`. */
  uiCodecEndpoint?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * Server dynamic config (`--dynamic-config-value key=value`, value as JSON), e.g.
   * `{ 'matching.useNewMatcher': false }` to serve task queues in arrival order, priorities ignored.
   */
  dynamicConfig?: Record<string, string | number | boolean>;
}

/** The CLI arguments, search attributes from src/domain/search-attributes.ts. */
export function devServerArgs(options: DevServerOptions): string[] {
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFilename,
    '--ip',
    options.ip ?? '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    options.namespace,
    '--log-level',
    // warn is noisy on every stop (pollers cancelled); errors still show.
    options.logLevel ?? 'error',
  ];
  if (options.ui === false) args.push('--headless');
  else {
    args.push('--ui-port', String(options.uiPort));
    if (options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  }
  for (const pair of searchAttributeCliPairs()) args.push('--search-attribute', pair);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  return args;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  process: ManagedProcess;
  /** Stops the server (SIGTERM, SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the dev server as a managed child (own process group, guarded against the parent's
 * death) and resolves once it answers `describeNamespace` for the namespace.
 */
export async function startDevServer(
  options: DevServerOptions & { output: (line: string) => void; name?: string; readyTimeoutMs?: number },
): Promise<DevServer> {
  fs.mkdirSync(path.dirname(path.resolve(options.dbFilename)), { recursive: true });
  const host = options.ip ?? '127.0.0.1';
  const address = `${host}:${options.port}`;
  const child = new ManagedProcess({ name: options.name ?? 'temporal', command: options.executable, args: devServerArgs(options), output: options.output });
  const server: DevServer = {
    address,
    uiUrl: options.ui === false ? undefined : `http://${host === '0.0.0.0' ? 'localhost' : host}:${options.uiPort}`,
    process: child,
    stop: async (graceMs = 5_000) => {
      await child.stop(graceMs);
    },
  };
  try {
    await waitUntilServing(address, options.namespace, options.readyTimeoutMs ?? 60_000, () => !child.running);
  } catch (error) {
    await child.stop(1_000);
    throw error;
  }
  return server;
}

/** Polls `describeNamespace` until it answers; `gaveUp` lets the caller stop early (the process died). */
export async function waitUntilServing(address: string, namespace: string, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error(`Temporal at ${address} exited before it was ready`);
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000, interceptors: closeSafeInterceptors() });
      await connection.withDeadline(Date.now() + 2_000, () => connection!.workflowService.describeNamespace({ namespace }));
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Temporal at ${address} did not answer within ${Math.round(timeoutMs / 1000)} s: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}
