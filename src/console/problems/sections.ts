/**
 * The Problems page's five sections, each read from its own source and each failing on its own: a
 * source that cannot be read becomes a message in its section, the others still show.
 *
 *   - failed check-ins: the report behind GET /reports/failed-checkins, on the ingress' shared runner;
 *   - dead events: the inbox's, newest first, 50 a page;
 *   - grants needing attention: this deployment's running grants in state needs-attention (visibility);
 *   - the latest reconcile report and its drift (the report behind GET /reports/reconcile);
 *   - webhook health: /healthz's problems, the inbox, the Temporal breaker, each source's last webhooks.
 */
import type { ConsoleDeps } from '../context';
import { html, type Html } from '../html';
import { CONSOLE_PATHS, temporalWorkflowUrl } from '../paths';
import { timeOf, durationText, type Clock } from '../time';
import { failedCheckinRange, runFailedCheckinReport, type FailedCheckinReport } from '../../ingress/failed-checkins';
import { runLatestReconcileReport } from '../../ingress/reconcile-report';
import { ReportsBusyError } from '../../ingress/reports';
import type { DeadEvent, InboxStats } from '../../ingress/inbox';
import { WEBHOOK_SOURCES, type WebhookSourceActivity } from '../../ingress/webhook-activity';
import { listGrants, withQueryDeadline, type GrantList } from '../../ops/grant-commands';
import { isHashedEmail } from '../../temporal/payload-codec';
import { summaryLine, type ChangeItem, type ReconcileReport } from '../../domain/reconcile-report';

/** Dead events on one page. */
export const DEAD_PAGE_SIZE = 50;
/** Grants listed at most (Access now lists them all). */
export const GRANTS_LISTED = 50;
/** How long one section waits for Temporal before it says it could not ask. */

/** A section's data, or why it could not be read. */
export type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

async function load<T>(deps: ConsoleDeps, what: string, read: () => Promise<T> | T): Promise<Loaded<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    if (error instanceof ReportsBusyError) return { ok: false, error: `Other reports are being computed: reload the page in a few seconds.` };
    deps.logger.warn({ err: error, section: what }, 'console problems: a section could not be read');
    return { ok: false, error: `${what} could not be read: ${error instanceof Error ? error.message : String(error)}` };
  }
}


// ---------------------------------------------------------------------------------------------
// loading

export interface FailedCheckinsData {
  report: FailedCheckinReport;
  computedAt: number;
}

export function loadFailedCheckins(deps: ConsoleDeps): Promise<Loaded<FailedCheckinsData>> {
  return load(deps, 'The failed check-ins', async () => {
    // The report's own default: the 7 days up to now, in whole minutes (one cache entry a minute).
    const range = failedCheckinRange({});
    if (!range.success) throw new Error('the default range is invalid');
    const result = await withQueryDeadline(deps.client, () => runFailedCheckinReport({ client: deps.client, taskQueue: deps.taskQueue, nexudus: deps.nexudus, logger: deps.logger, runner: deps.reportRunner, metrics: deps.metrics }, range.data));
    return { report: result.value, computedAt: result.computedAt };
  });
}

export interface DeadEventsData {
  items: DeadEvent[];
  total: number;
  /** The id to page on from (older events), null on the last page. */
  older: number | null;
  before: number | undefined;
}

export function loadDeadEvents(deps: ConsoleDeps, before: number | undefined): Promise<Loaded<DeadEventsData>> {
  return load(deps, 'The inbox', () => {
    const items = deps.inbox.listDead({ limit: DEAD_PAGE_SIZE, beforeId: before });
    const older = items.length === DEAD_PAGE_SIZE ? items[items.length - 1]!.id : null;
    return { items, total: deps.inbox.stats().dead, older, before };
  });
}

export function loadGrants(deps: ConsoleDeps): Promise<Loaded<GrantList>> {
  return load(deps, 'Grants needing attention', () =>
    withQueryDeadline(deps.client, () => listGrants(deps.client, deps.taskQueue, { state: 'needs-attention', includeClosed: false, limit: GRANTS_LISTED })),
  );
}

export type LatestReconcile = Awaited<ReturnType<typeof runLatestReconcileReport>>['value'];

export function loadReconcile(deps: ConsoleDeps): Promise<Loaded<LatestReconcile>> {
  return load(deps, 'The latest reconcile report', async () => (await withQueryDeadline(deps.client, () => runLatestReconcileReport({ client: deps.client, taskQueue: deps.taskQueue, runner: deps.reportRunner }))).value);
}

export interface HealthData {
  problems: Loaded<string[]>;
  inbox: Loaded<InboxStats>;
  breaker: { open: boolean; since: number | null };
  sources: Array<{ source: string; activity: WebhookSourceActivity }>;
  now: number;
}

export async function loadHealth(deps: ConsoleDeps): Promise<HealthData> {
  return {
    problems: await load(deps, 'The ingress health', () => deps.health()),
    inbox: await load(deps, 'The inbox', () => deps.inbox.stats()),
    breaker: { open: deps.breaker.isOpen, since: deps.breaker.since },
    sources: WEBHOOK_SOURCES.map((source) => ({ source, activity: deps.metrics.webhookActivity.of(source) })),
    now: Date.now(),
  };
}

// ---------------------------------------------------------------------------------------------
// rendering

function failure(error: string): Html {
  return html`<p class="notice error">${error}</p>`;
}

const SOURCE_NAMES: Record<string, string> = { nexudus: 'Nexudus', kisi: 'Kisi' };
const sourceName = (source: string) => SOURCE_NAMES[source] ?? source;

export function failedCheckinsSection(data: Loaded<FailedCheckinsData>, clock: Clock, deps: ConsoleDeps): Html {
  let body: Html;
  if (!data.ok) body = failure(data.error);
  else {
    const { report, computedAt } = data.value;
    body = html`
      <p class="hint">From ${timeOf(clock, report.from)} to ${timeOf(clock, report.to)}; worked out ${timeOf(clock, computedAt)} (kept for a minute).</p>
      <h3>Check-ins this product could not record</h3>
      ${'error' in report.temporal
        ? failure(report.temporal.error)
        : report.temporal.items.length === 0
          ? html`<p>No failed check-ins of ours in this period.</p>`
          : html`
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">Check-ins this product could not record</caption>
                  <thead><tr><th scope="col">Door opened</th><th scope="col">Door</th><th scope="col">Kisi user</th><th scope="col">Outcome</th><th scope="col">Reason</th><th scope="col">Workflow</th></tr></thead>
                  <tbody>
                    ${report.temporal.items.map((item) => {
                      const url = temporalWorkflowUrl(deps, item.workflowId);
                      return html`<tr>
                        <td>${timeOf(clock, item.unlockedAt ?? item.startedAt)}</td>
                        <td>${item.lockName ?? (item.lockId === null ? '—' : `Lock ${item.lockId}`)}</td>
                        <td>${item.kisiUserEmail ?? (item.kisiUserId === null ? '—' : `Kisi user ${item.kisiUserId}`)}</td>
                        <td>${item.outcome ?? item.status.toLowerCase()}</td>
                        <td>${item.reason ?? '—'}</td>
                        <td>${url ? html`<a href=${url}>${item.workflowId}</a>` : item.workflowId}</td>
                      </tr>`;
                    })}
                  </tbody>
                </table>
              </div>
              ${report.temporal.truncated ? html`<p class="warn">More failed check-ins than shown: narrow the period with GET /reports/failed-checkins.</p>` : null}
            `}
      <h3>Nexudus' own failed check-ins</h3>
      ${'error' in report.nexudus
        ? failure(report.nexudus.error)
        : report.nexudus.items.length === 0
          ? html`<p>Nexudus lists no failed check-ins in this period.</p>`
          : html`
              <div class="table-wrap">
                <table>
                  <caption class="visually-hidden">Nexudus' own failed check-ins</caption>
                  <thead><tr><th scope="col">Attempted</th><th scope="col">Customer</th><th scope="col">Source</th><th scope="col">Reason</th></tr></thead>
                  <tbody>
                    ${report.nexudus.items.map(
                      (item) => html`<tr>
                        <td>${timeOf(clock, item.attemptedAt)}</td>
                        <td>${item.customerName ?? (item.customerId === null ? '—' : `Customer ${item.customerId}`)}</td>
                        <td>${item.source === null ? '—' : String(item.source)}</td>
                        <td>${item.reason ?? '—'}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
              </div>
              ${report.nexudus.truncated ? html`<p class="warn">More failed check-ins than shown: see Nexudus' own list.</p>` : null}
            `}`;
  }
  return section('failed-checkins', 'Failed check-ins, ours and Nexudus\u2019', body);
}

export function deadEventsSection(data: Loaded<DeadEventsData>, clock: Clock, csrfToken: string, pagingError?: string): Html {
  let body: Html;
  if (!data.ok) body = failure(data.error);
  else {
    const { items, total, older, before } = data.value;
    body = html`
      <p class="hint">Correctly signed webhooks the product could not use. Fix the cause (the record in Nexudus, the map), then retry; drop what needs nothing.</p>
      ${pagingError ? failure(pagingError) : null}
      ${items.length === 0
        ? html`<p>${before === undefined ? 'No dead events: every webhook received could be used.' : 'No older dead events.'}</p>`
        : html`
            <p>${total} dead event${total === 1 ? '' : 's'} in all${before === undefined ? '' : `, older than event ${before}`}; newest first.</p>
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">Dead events</caption>
                <thead><tr><th scope="col">Event</th><th scope="col">Source and action</th><th scope="col">Record</th><th scope="col">Received</th><th scope="col">Died</th><th scope="col">Reason</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  ${items.map(
                    (event) => html`<tr>
                      <td>${event.id}</td>
                      <td>${sourceName(event.source)} ${event.action}</td>
                      <td>${event.entityKey}</td>
                      <td>${timeOf(clock, event.receivedAt)}</td>
                      <td>${timeOf(clock, event.deadAt)}</td>
                      <td>${event.reason}${event.attempts > 0 ? html`<br /><span class="hint">after ${event.attempts} attempt${event.attempts === 1 ? '' : 's'}</span>` : null}</td>
                      <td>
                        <div class="actions">
                          ${event.bodyKept
                            ? html`<form method="post" action=${`${CONSOLE_PATHS.problems}/dead-events/${event.id}/retry`}>
                                <input type="hidden" name="_csrf" value=${csrfToken} />
                                <button type="submit">Retry event ${event.id}</button>
                              </form>`
                            : html`<span class="hint">Not retryable: ${event.cause === 'unhandled-action' ? 'the product does not handle this action, so only the shape of its body was kept' : 'its body could not be read, so it was not kept'}.</span>`}
                          <form method="post" action=${`${CONSOLE_PATHS.problems}/dead-events/${event.id}/drop`}>
                            <input type="hidden" name="_csrf" value=${csrfToken} />
                            <button type="submit" class="secondary">Drop event ${event.id}…</button>
                          </form>
                        </div>
                      </td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          `}
      <p class="actions">
        ${before !== undefined ? html`<a href=${`${CONSOLE_PATHS.problems}#dead-events`}>Newest dead events</a>` : null}
        ${older !== null ? html`<a href=${`${CONSOLE_PATHS.problems}?before=${older}#dead-events`}>Older dead events</a>` : null}
      </p>`;
  }
  return section('dead-events', 'Dead events', body);
}

export function grantsSection(data: Loaded<GrantList>, clock: Clock, csrfToken: string, deps: ConsoleDeps): Html {
  const accessLink = html`<p><a href=${`${CONSOLE_PATHS.access}?state=needs-attention`}>Grants needing attention on Access now</a></p>`;
  let body: Html;
  if (!data.ok) body = html`${failure(data.error)}${accessLink}`;
  else {
    const { grants, truncated } = data.value;
    body = html`
      <p class="hint">A grant in needs-attention waits for an operator: fix the cause (usually the map or Kisi), then retry it.</p>
      ${grants.length === 0
        ? html`<p>No grant needs attention.</p>`
        : html`
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">Grants needing attention</caption>
                <thead><tr><th scope="col">Grant</th><th scope="col">Customer</th><th scope="col">Kind</th><th scope="col">Kisi groups</th><th scope="col">Window</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  ${grants.map((grant) => {
                    const url = temporalWorkflowUrl(deps, grant.workflowId);
                    const email = grant.customerEmail && !isHashedEmail(grant.customerEmail) ? grant.customerEmail : null;
                    return html`<tr>
                      <td>${url ? html`<a href=${url}>${grant.workflowId}<span class="visually-hidden"> in the Temporal Web UI</span></a>` : grant.workflowId}</td>
                      <td>${grant.customerId === null ? '—' : `Customer ${grant.customerId}`}${email ? html`<br />${email}` : null}</td>
                      <td>${grant.kind ?? '—'}</td>
                      <td>${grant.groups.length === 0 ? '—' : grant.groups.join(', ')}</td>
                      <td>${timeOf(clock, grant.accessStartsAt)} to ${timeOf(clock, grant.accessEndsAt)}</td>
                      <td>
                        <form method="post" action=${CONSOLE_PATHS.grantRetry(grant.workflowId)}>
                          <input type="hidden" name="_csrf" value=${csrfToken} />
                          <input type="hidden" name="back" value=${CONSOLE_PATHS.problems} />
                          <button type="submit">Retry grant ${grant.workflowId}</button>
                        </form>
                      </td>
                    </tr>`;
                  })}
                </tbody>
              </table>
            </div>
            ${truncated ? html`<p class="warn">More grants need attention than the ${GRANTS_LISTED} shown.</p>` : null}
          `}
      ${accessLink}`;
  }
  return section('grants', 'Grants needing attention', body);
}

const DRIFT_KINDS: ReadonlySet<ChangeItem['kind']> = new Set(['drift', 'drift-removed']);

export function reconcileSection(data: Loaded<LatestReconcile>, clock: Clock, deps: ConsoleDeps): Html {
  let body: Html;
  if (!data.ok) body = failure(data.error);
  else if (!data.value) body = html`<p>No reconcile has completed yet. The reconcile schedule runs one every RECONCILE_EVERY; <code>npm run backfill</code> runs one now.</p>`;
  else {
    const { workflowId, closeTime, report } = data.value;
    const url = temporalWorkflowUrl(deps, workflowId);
    const drift = report.changes.filter((change) => DRIFT_KINDS.has(change.kind));
    body = html`
      <p>
        ${triggerText(report)} reconcile ${url ? html`<a href=${url}>${workflowId}</a>` : workflowId}, finished ${timeOf(clock, closeTime?.getTime() ?? report.finishedAt)}.
      </p>
      <p class="summary">${summaryLine(report)}</p>
      <h3>Drift</h3>
      <p class="hint">Kisi assignments in mapped groups that no grant holds. Policy <code>${report.driftPolicy}</code>: ${report.driftPolicy === 'remove' ? 'a drift reported by the run before is removed.' : 'reported only (KISI_DRIFT=remove removes it).'}</p>
      ${drift.length === 0
        ? html`<p>${(report.counts.driftFound ?? 0) > 0 ? `${report.counts.driftFound} found, none listed (the report lists at most its first changes).` : 'No drift: every Kisi assignment in a mapped group is held by a grant.'}</p>`
        : html`
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">Drift found by the latest reconcile</caption>
                <thead><tr><th scope="col">What</th><th scope="col">Kisi assignment</th><th scope="col">Detail</th></tr></thead>
                <tbody>
                  ${drift.map((change) => html`<tr><td>${change.kind === 'drift' ? 'Found' : 'Removed'}</td><td>${change.ref}</td><td>${change.detail}</td></tr>`)}
                </tbody>
              </table>
            </div>
            ${report.droppedChanges > 0 ? html`<p class="warn">${report.droppedChanges} more changes were counted but not listed.</p>` : null}
          `}
      ${report.errors.length > 0
        ? html`<h3>Errors</h3><ul>${report.errors.map((error) => html`<li>${error}</li>`)}</ul>`
        : null}`;
  }
  return section('reconcile', 'The latest reconcile', body);
}

function triggerText(report: ReconcileReport): string {
  const what = report.trigger === 'schedule' ? 'Scheduled' : report.trigger === 'backfill' ? 'Backfill' : 'Manual';
  return report.dryRun ? `${what} (dry run)` : what;
}

export function healthSection(data: HealthData, clock: Clock): Html {
  const { problems, inbox, breaker, sources, now } = data;
  const body = html`
    <h3>Ingress</h3>
    ${!problems.ok
      ? failure(problems.error)
      : problems.value.length === 0
        ? html`<p class="state-active">No problems: the inbox forwarder runs and the queue moves.</p>`
        : html`<ul>${problems.value.map((p) => html`<li class="bad">${p}</li>`)}</ul>`}
    ${!inbox.ok
      ? failure(inbox.error)
      : html`<dl class="facts">
          <dt>Waiting in the inbox</dt><dd>${inbox.value.backlog} event${inbox.value.backlog === 1 ? '' : 's'}${inbox.value.backlog > 0 ? ` for ${inbox.value.entities} record${inbox.value.entities === 1 ? '' : 's'}` : ''}</dd>
          <dt>Oldest waiting</dt><dd>${inbox.value.oldestReceivedAt === null ? 'none' : html`${durationText(now - inbox.value.oldestReceivedAt)} (since ${timeOf(clock, inbox.value.oldestReceivedAt)})`}</dd>
          <dt>Dead events</dt><dd>${inbox.value.dead}</dd>
          <dt>Temporal</dt><dd>${breaker.open ? html`<span class="bad">unreachable: webhooks are queued in the inbox${breaker.since !== null ? html` since ${timeOf(clock, breaker.since)}` : null}</span>` : 'reachable: webhooks go straight to their workflows'}</dd>
        </dl>`}
    <h3>Webhooks by source</h3>
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">Webhooks by source, since this ingress started</caption>
        <thead><tr><th scope="col">Source</th><th scope="col">Last correctly signed webhook</th><th scope="col">Refused in the last 24 hours</th><th scope="col">Last refused</th></tr></thead>
        <tbody>
          ${sources.map(
            ({ source, activity }) => html`<tr>
              <th scope="row">${sourceName(source)}</th>
              <td>${activity.lastAcceptedAt === null ? 'none since the ingress started' : timeOf(clock, activity.lastAcceptedAt)}</td>
              <td class=${activity.refusedRecently > 0 ? 'bad' : undefined}>${activity.refusedRecently}</td>
              <td>${activity.lastRefusedAt === null ? 'none' : timeOf(clock, activity.lastRefusedAt)}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <p class="hint">Refused: a missing or wrong signature (check the webhook secrets). Counted since this ingress started.</p>`;
  return section('webhook-health', 'Webhook health', body);
}

function section(id: string, title: string, body: Html): Html {
  return html`<section id=${id} aria-labelledby=${`${id}-title`}><h2 id=${`${id}-title`}>${title}</h2>${body}</section>`;
}
