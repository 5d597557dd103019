/**
 * `npm run inbox -- <command>`: the operator's hand on the ingress' dead events (webhooks the
 * product could not use, events Temporal refused as invalid, records Nexudus no longer has).
 *
 *   list [--limit N] [--before ID]     newest first
 *   show <id>                          one event with its stored fields and reason
 *   retry <id>... | --all              back into the queue (after fixing the cause)
 *   drop <id>... | --all               delete
 *
 * It talks to the running ingress (its operator endpoints, `Authorization: Bearer $OPS_TOKEN`; the
 * ingress holds the inbox file locked), at `--url` or http://127.0.0.1:$PORT. With `--direct` it
 * opens `$DATA_DIR/inbox.db` itself instead, for an ingress that is stopped. Exit status: 0 done,
 * 1 failed (ingress unreachable, refused, no such event), 2 usage, 78 configuration.
 */
import { z } from 'zod';
import { loadEnv, type Env } from '../config/env';
import { inboxPath, listenHost } from '../ingress/from-env';
import { DeadEventNotRetryableError, Inbox, type DeadEvent, type InboxEventView } from '../ingress/inbox';
import { EXIT_FAILED, parseWith, runCli, UsageError } from './ops-cli';

const USAGE = `usage: npm run inbox -- <command> [options]

  list [--limit N] [--before ID]   dead events, newest first (N up to 500, default 50)
  show <id>                        one dead event: its reason and the fields that were kept
  retry <id>... | --all            put dead events back in the queue (fix the cause first)
  drop <id>... | --all             delete dead events

  --url URL   the ingress (default http://127.0.0.1:$PORT); needs OPS_TOKEN unless it answers
              loopback clients (development without a token)
  --direct    open $DATA_DIR/inbox.db directly instead (only while the ingress is stopped)
  --json      machine-readable output`;

const OPTIONS = {
  limit: { type: 'string' },
  before: { type: 'string' },
  all: { type: 'boolean' },
  url: { type: 'string' },
  direct: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const eventId = z.coerce.number({ message: 'expected an event id' }).int({ message: 'expected an event id' }).positive({ message: 'expected an event id' });
const common = { json: z.boolean(), url: z.url({ message: '--url: expected an absolute URL' }).optional(), direct: z.boolean() };
const schema = z.discriminatedUnion('command', [
  z.strictObject({ command: z.literal('help') }),
  z.strictObject({
    command: z.literal('list'),
    ...common,
    limit: z.coerce.number({ message: '--limit: expected a number' }).int().min(1, { message: '--limit: at least 1' }).max(500, { message: '--limit: at most 500' }).default(50),
    before: eventId.optional(),
  }),
  z.strictObject({ command: z.literal('show'), ...common, id: eventId }),
  z.strictObject({ command: z.literal('retry'), ...common, ids: z.array(eventId), all: z.boolean() }),
  z.strictObject({ command: z.literal('drop'), ...common, ids: z.array(eventId), all: z.boolean() }),
]);
type Command = z.output<typeof schema>;

const ALLOWED: Record<string, string[]> = {
  list: ['json', 'url', 'direct', 'limit', 'before'],
  show: ['json', 'url', 'direct'],
  retry: ['json', 'url', 'direct', 'all'],
  drop: ['json', 'url', 'direct', 'all'],
};

export function parseInboxArgs(argv: string[]): Command {
  return parseWith(
    argv,
    OPTIONS,
    schema,
    ({ values, positionals }) => {
      const [command, ...targets] = positionals;
      if (values.help || command === undefined || command === 'help') return { command: 'help' };
      const allowed = ALLOWED[command];
      if (!allowed) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
      const refused = Object.keys(values).filter((k) => !allowed.includes(k));
      if (refused.length) throw new UsageError(`${command} does not take ${refused.map((r) => `--${r}`).join(', ')}`);
      const base = { command, json: values.json === true, url: values.url, direct: values.direct === true };
      if (base.direct && base.url !== undefined) throw new UsageError('--direct and --url: one or the other');
      switch (command) {
        case 'list':
          if (targets.length) throw new UsageError(`unexpected argument ${JSON.stringify(targets[0])}`);
          return { ...base, limit: values.limit, before: values.before };
        case 'show':
          if (targets.length !== 1) throw new UsageError('show needs one event id');
          return { ...base, id: targets[0] };
        default:
          if (values.all === true && targets.length) throw new UsageError(`${command}: event ids or --all, not both`);
          if (values.all !== true && !targets.length) throw new UsageError(`${command} needs event ids (or --all)`);
          return { ...base, ids: targets, all: values.all === true };
      }
    },
    { positionals: true },
  );
}

/** What the commands need, over HTTP or on the file. */
interface InboxAccess {
  list(limit: number, before?: number): Promise<{ items: DeadEvent[]; next: number | null; total: number }>;
  show(id: number): Promise<InboxEventView | undefined>;
  retry(id: number): Promise<'retried' | 'not-found' | 'not-retryable'>;
  drop(id: number): Promise<'dropped' | 'not-found'>;
  close(): Promise<void>;
}

class HttpAccess implements InboxAccess {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
  ) {}

  async list(limit: number, before?: number) {
    const query = new URLSearchParams({ limit: String(limit), ...(before ? { before: String(before) } : {}) });
    return (await this.call('GET', `/reports/dead-events?${query}`)).body as { items: DeadEvent[]; next: number | null; total: number };
  }

  async show(id: number) {
    const res = await this.call('GET', `/reports/dead-events/${id}`, [404]);
    return res.status === 404 ? undefined : (res.body as InboxEventView);
  }

  async retry(id: number) {
    const res = await this.call('POST', `/ops/dead-events/${id}/retry`, [404, 409]);
    return res.status === 404 ? 'not-found' : res.status === 409 ? 'not-retryable' : 'retried';
  }

  async drop(id: number) {
    const res = await this.call('DELETE', `/ops/dead-events/${id}`, [404]);
    return res.status === 404 ? 'not-found' : 'dropped';
  }

  async close() {}

  private async call(method: string, path: string, accepted: number[] = []): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers: this.token ? { Authorization: `Bearer ${this.token}` } : {}, signal: AbortSignal.timeout(15_000) });
    } catch (error) {
      throw new Error(`cannot reach the ingress at ${this.base} (${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}): is it running? (--url, or --direct while it is stopped)`);
    }
    const body = (await res.json().catch(() => null)) as unknown;
    if (res.ok || accepted.includes(res.status)) return { status: res.status, body };
    const why =
      res.status === 401
        ? 'the ingress refused the token (set OPS_TOKEN to the ingress\' OPS_TOKEN)'
        : res.status === 404
          ? 'the ingress has its operator endpoints off (production without OPS_TOKEN)'
          : res.status === 403
            ? 'the ingress answers loopback clients only (development without OPS_TOKEN)'
            : `HTTP ${res.status}`;
    throw new Error(`${method} ${path}: ${why}${body && typeof body === 'object' && 'error' in body ? ` (${String((body as { error: unknown }).error)})` : ''}`);
  }
}

class DirectAccess implements InboxAccess {
  private readonly inbox: Inbox;
  constructor(file: string) {
    // No waiting: a running ingress holds the file, and then this is the wrong way in.
    this.inbox = Inbox.open(file, { lockTimeoutMs: 0 });
  }

  async list(limit: number, before?: number) {
    const items = this.inbox.listDead({ limit, beforeId: before });
    return { items, next: items.length === limit ? items[items.length - 1]!.id : null, total: this.inbox.stats().dead };
  }

  async show(id: number) {
    const event = this.inbox.event(id);
    return event?.status === 'dead' ? event : undefined;
  }

  async retry(id: number) {
    try {
      return this.inbox.retryDead(id) ? ('retried' as const) : ('not-found' as const);
    } catch (error) {
      if (error instanceof DeadEventNotRetryableError) return 'not-retryable' as const;
      throw error;
    }
  }

  async drop(id: number) {
    return this.inbox.dropDead(id) ? ('dropped' as const) : ('not-found' as const);
  }

  async close() {
    this.inbox.close();
  }
}

function accessFor(command: Exclude<Command, { command: 'help' }>, env: Env): InboxAccess {
  if (command.direct) return new DirectAccess(inboxPath(env));
  const host = listenHost(env);
  const local = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return new HttpAccess((command.url ?? `http://${local.includes(':') ? `[${local}]` : local}:${env.PORT}`).replace(/\/+$/, ''), env.OPS_TOKEN);
}

async function main(argv: string[]): Promise<number> {
  const command = parseInboxArgs(argv);
  if (command.command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const env = loadEnv();
  const access = accessFor(command, env);
  const out = (value: unknown, text: () => string) => process.stdout.write(`${command.json ? JSON.stringify(value, null, 2) : text()}\n`);
  try {
    switch (command.command) {
      case 'list': {
        const page = await access.list(command.limit, command.before);
        out(page, () => formatList(page));
        return 0;
      }
      case 'show': {
        const event = await access.show(command.id);
        if (!event) {
          process.stderr.write(`inbox: no dead event ${command.id}\n`);
          return EXIT_FAILED;
        }
        out(event, () => formatEvent(event));
        return 0;
      }
      case 'retry':
      case 'drop': {
        const ids = command.all ? await allIds(access) : command.ids;
        const outcomes: Array<{ id: number; outcome: string }> = [];
        for (const id of ids) outcomes.push({ id, outcome: command.command === 'retry' ? await access.retry(id) : await access.drop(id) });
        out(outcomes, () => (outcomes.length ? outcomes.map((o) => `${o.id}  ${describeOutcome(o.outcome)}`).join('\n') : 'no dead events'));
        // --all skips what cannot be retried; named events must all have worked.
        return command.all || outcomes.every((o) => o.outcome === 'retried' || o.outcome === 'dropped') ? 0 : EXIT_FAILED;
      }
    }
  } finally {
    await access.close();
  }
}

async function allIds(access: InboxAccess): Promise<number[]> {
  const ids: number[] = [];
  for (let before: number | undefined; ; ) {
    const page = await access.list(500, before);
    ids.push(...page.items.map((d) => d.id));
    if (page.next === null) return ids;
    before = page.next;
  }
}

function describeOutcome(outcome: string): string {
  return (
    {
      retried: 'retried: back in the queue',
      dropped: 'dropped',
      'not-found': 'no such dead event',
      'not-retryable': 'not retried: its body was not kept (unreadable, or an action the product does not handle); drop it',
    }[outcome] ?? outcome
  );
}

function formatList(page: { items: DeadEvent[]; next: number | null; total: number }): string {
  if (page.items.length === 0) return 'no dead events';
  const rows = page.items.map((d) => [String(d.id), d.deadAt.replace(/\.\d+Z$/, 'Z'), d.cause, d.source, d.action.slice(0, 30), d.entityKey, d.reason.replace(/\s+/g, ' ').slice(0, 80)]);
  const header = ['ID', 'DIED', 'CAUSE', 'SOURCE', 'ACTION', 'RECORD', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const more = page.next !== null ? `\nmore: npm run inbox -- list --before ${page.next}` : '';
  return `${[line(header), ...rows.map(line)].join('\n')}\n${page.items.length} of ${page.total} dead event${page.total === 1 ? '' : 's'}${more}`;
}

function formatEvent(e: InboxEventView): string {
  let body = e.body;
  try {
    body = JSON.stringify(JSON.parse(e.body), null, 2);
  } catch {
    // shown as stored
  }
  return [
    `Dead event   ${e.id} (${e.source} ${e.action}, record ${e.entityKey})`,
    `Received     ${e.receivedAt}${e.requestId ? `  request ${e.requestId}` : ''}`,
    `Died         ${e.deadAt ?? '-'} after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}`,
    `Cause        ${e.cause}`,
    `Reason       ${e.reason}`,
    `Kept         ${e.bodyKept ? 'the fields the product reads:' : 'a description only (the body could not be read):'}`,
    body.replace(/^/gm, '  '),
    '',
    e.bodyKept ? `Fix the cause, then: npm run inbox -- retry ${e.id}   (or drop it: npm run inbox -- drop ${e.id})` : `Nothing to retry: npm run inbox -- drop ${e.id}`,
  ].join('\n');
}

if (require.main === module) runCli('inbox', USAGE, main);
