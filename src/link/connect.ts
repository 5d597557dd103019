/**
 * The clients `npm run access-map` talks through: the product's own, built from the environment. When
 * an API has no credentials configured, the sandbox `npm start` / `npm run sandbox` would run for
 * it is used instead, provided one answers on its port, with exactly the base URL and credentials
 * dev/local/start.ts gives the worker. That keeps "start the sandboxes, then link" a zero-config affair
 * while a real deployment (credentials set) never touches a local port.
 */
import type { Env } from '../config/env';
import { ConfigError, hasKisiCredentials, hasNexudusCredentials, parseEnv } from '../config/env';
import type { KisiClient } from '../clients/kisi';
import type { NexudusClient } from '../clients/nexudus';
import { kisiClientFromEnv, nexudusClientFromEnv } from '../clients/from-env';
import { localSandboxes, parseSandboxPorts } from '../config/local-sandboxes';

export interface Clients {
  kisi: KisiClient;
  nexudus: NexudusClient;
  /** One line per API that is served by a local sandbox. */
  notes: string[];
}

export class MissingCredentialsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'MissingCredentialsError';
  }
}

/** True when our sandbox (not some other program) answers its control route on `port`. */
export async function sandboxAnswers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/__sandbox/state`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return false;
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null;
  } catch {
    return false;
  }
}

/**
 * The environment with each credential-less API pointed at its running sandbox. `source` is the
 * raw environment (process.env after dotenv) so the result is validated like any other; it also
 * gives the sandbox ports (KISI_SANDBOX_PORT, NEXUDUS_SANDBOX_PORT; a bad one is a ConfigError).
 */
export async function withSandboxFallback(source: Record<string, string | undefined>, env: Env, answers = sandboxAnswers): Promise<{ env: Env; notes: string[] }> {
  if (hasKisiCredentials(env) && hasNexudusCredentials(env)) return { env, notes: [] };
  const overrides: Record<string, string> = {};
  const notes: string[] = [];
  for (const sandbox of localSandboxes(env, parseSandboxPorts(source))) {
    if (!sandbox.needed || !(await answers(sandbox.port))) continue;
    Object.assign(overrides, sandbox.clientEnv);
    notes.push(`no ${sandbox.real} set: using the ${sandbox.name} on port ${sandbox.port} (${Object.keys(sandbox.clientEnv).join(', ')} as npm start sets them)`);
  }
  return { env: notes.length > 0 ? parseEnv({ ...source, ...overrides }) : env, notes };
}

export async function clientsFromEnv(source: Record<string, string | undefined>, env: Env): Promise<Clients> {
  const resolved = await withSandboxFallback(source, env);
  const ports = () => parseSandboxPorts(source);
  const problems: string[] = [];
  let kisi: KisiClient | undefined;
  let nexudus: NexudusClient | undefined;
  try {
    kisi = kisiClientFromEnv(resolved.env);
  } catch (error) {
    problems.push(`${problemsOf(error)}; or start the sandboxes (npm run sandbox) on KISI_SANDBOX_PORT ${ports().KISI_SANDBOX_PORT}`);
  }
  try {
    nexudus = nexudusClientFromEnv(resolved.env);
  } catch (error) {
    problems.push(`${problemsOf(error)}; or start the sandboxes (npm run sandbox) on NEXUDUS_SANDBOX_PORT ${ports().NEXUDUS_SANDBOX_PORT}`);
  }
  if (!kisi || !nexudus) throw new MissingCredentialsError(problems);
  return { kisi, nexudus, notes: resolved.notes };
}

/** What is missing, without ConfigError's "invalid configuration:" heading. */
function problemsOf(error: unknown): string {
  return error instanceof ConfigError ? error.problems.join('; ') : (error as Error).message;
}
