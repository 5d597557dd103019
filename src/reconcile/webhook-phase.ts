/**
 * Nexudus webhook health. Webhooks make grants fast; reconcile only makes them complete, so a
 * webhook of ours that Nexudus disabled (after 10 failed deliveries) or that keeps failing must
 * reach a person: it is logged at error level and listed in the report.
 *
 * "Ours" are the webhooks whose URL points at this product's receiver (`/webhooks/nexudus/...`).
 * "Keeps failing" is ErrorCount higher than in the previous completed reconcile's report (a
 * webhook never seen before compares with 0).
 */
import type { Client } from '@temporalio/client';
import type { NexudusClient } from '../clients/nexudus';
import type { NexudusWebhook } from '../domain/nexudus-entities';
import type { PhaseProgress } from './progress';
import type { ReconcileReport, WebhookSnapshot } from '../domain/reconcile-report';
import { latestReconcileReport } from './visibility';

export interface WebhookPhaseDeps {
  nexudus: Pick<NexudusClient, 'listWebhooks'>;
  temporal: Client;
  taskQueue: string;
  /** Error-level log line for each problem (the activity logger). */
  alert: (message: string, details: Record<string, unknown>) => void;
  warn: (message: string, details: Record<string, unknown>) => void;
}

export const OUR_WEBHOOK_PATH = '/webhooks/nexudus/';

export function isOurWebhook(url: string | null | undefined): boolean {
  return typeof url === 'string' && url.includes(OUR_WEBHOOK_PATH);
}

export function snapshotOf(w: NexudusWebhook): WebhookSnapshot {
  return {
    id: w.Id,
    name: w.Name ?? null,
    action: String(w.Action),
    url: w.URL ?? null,
    active: w.Active !== false,
    errorCount: w.ErrorCount ?? 0,
    lastError: w.LastError ?? null,
    lastTrigger: w.LastTrigger ?? null,
  };
}

/** The problems of one webhook compared with its previous snapshot (none: first sight). */
export function webhookProblems(now: WebhookSnapshot, before: WebhookSnapshot | undefined): string[] {
  const problems: string[] = [];
  if (!now.active) problems.push('disabled in Nexudus (Active=false): its events no longer arrive, only reconcile catches up');
  const previous = before?.errorCount ?? 0;
  if (now.errorCount > previous) problems.push(`ErrorCount rose from ${previous} to ${now.errorCount}${now.lastError ? ` (last error: ${now.lastError})` : ''}`);
  return problems;
}

export async function checkWebhooks(deps: WebhookPhaseDeps, input: { currentWorkflowId: string }, progress: PhaseProgress): Promise<WebhookSnapshot[]> {
  const tally = progress.tally;
  progress.at('listing Nexudus webhooks', 0, 0);
  const ours = (await deps.nexudus.listWebhooks()).filter((w) => isOurWebhook(w.URL)).map(snapshotOf);

  let previous: WebhookSnapshot[] = [];
  try {
    // The last run whose webhook phase ran through: its counts are the baseline.
    const accept = (r: ReconcileReport) => r.phases.some((p) => p.phase === 'webhooks' && !p.failed);
    previous = (await latestReconcileReport(deps.temporal, { taskQueue: deps.taskQueue, excludeWorkflowId: input.currentWorkflowId, accept }))?.report.webhooks ?? [];
  } catch (error) {
    // Without the previous counts every ErrorCount above 0 is reported: louder, not quieter.
    deps.warn('reconcile: cannot read the previous reconcile report; comparing webhook error counts with 0', { error: String(error) });
  }
  const before = new Map(previous.map((w) => [w.id, w]));

  if (ours.length === 0) deps.warn('reconcile: no Nexudus webhook points at this product; only reconcile keeps grants in step', {});
  for (const w of ours) {
    tally.count('checked');
    const problems = webhookProblems(w, before.get(w.id));
    if (problems.length === 0) continue;
    const text = problems.join('; ');
    tally.record('webhookProblems', 'webhook-problem', `nexudus webhook ${w.id}`, `${w.name ?? w.action} → ${w.url ?? '?'}: ${text}`);
    deps.alert(`Nexudus webhook ${w.id} (${w.name ?? w.action}) needs attention: ${text}`, { webhookId: w.id, url: w.url, action: w.action, active: w.active, errorCount: w.errorCount, lastError: w.lastError });
  }
  progress.at('webhooks done', ours.length, ours.length);
  return ours;
}
