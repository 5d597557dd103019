/**
 * The ingress' Prometheus metrics, on a registry of its own (so several apps in one test process
 * do not collide, and the worker's SDK metrics stay on their own port). Label values are bounded:
 * an action the product does not handle is counted as "unsupported", never by the name in the URL.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Inbox } from './inbox';
import { WebhookActivity } from './webhook-activity';

export interface IngressMetrics {
  registry: Registry;
  /** Webhooks by source (nexudus, kisi), action and outcome (delivered, queued, ignored, rejected-signature...). */
  webhooks: Counter<'source' | 'action' | 'outcome'>;
  /** Time from request to answer, per route pattern. */
  latency: Histogram<'route' | 'method' | 'status'>;
  /** Inbox deliveries by source and outcome. */
  forwarded: Counter<'source' | 'outcome'>;
  /** Events kept dead (unusable), by source and a bounded cause (DeadCause). */
  deadEvents: Counter<'source' | 'cause'>;
  /** Errors of the forwarder's own loop (its store failing, say), each followed by a restart of the round. */
  forwarderErrors: Counter;
  /** Nexudus calls made by the operator reports (their own budget, beside the grants'). */
  reportNexudusCalls: Counter<'report'>;
  /** Pass-watcher pokes by outcome: requested (an AccessControlUpdate), sent (a signal), failed. */
  passWatchPokes: Counter<'outcome'>;
  /** Last correctly signed and last refused delivery per source, refusals lately (the console's webhook health). */
  webhookActivity: WebhookActivity;
  /** Counts one webhook delivery: `webhooks` by outcome, and `webhookActivity` (a signature refused or not). */
  countWebhook(source: 'nexudus' | 'kisi', action: string, outcome: string): void;
  /** Reads the inbox's size at scrape time. */
  watchInbox(inbox: Inbox): void;
}

export function createIngressMetrics(options: { defaultMetrics?: boolean } = {}): IngressMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  let inbox: Inbox | undefined;
  const stats = () => (inbox && !inbox.isClosed ? inbox.stats() : undefined);
  new Gauge({
    name: 'ingress_inbox_backlog',
    help: 'Events waiting in the durable inbox for Temporal (or a Nexudus re-read)',
    registers: [registry],
    collect() {
      this.set(stats()?.backlog ?? 0);
    },
  });
  new Gauge({
    name: 'ingress_inbox_oldest_age_seconds',
    help: 'Age of the oldest event waiting in the inbox (0 when empty)',
    registers: [registry],
    collect() {
      const oldest = stats()?.oldestReceivedAt;
      this.set(oldest == null ? 0 : (Date.now() - oldest) / 1000);
    },
  });
  new Gauge({
    name: 'ingress_inbox_dead',
    help: 'Poison events recorded as dead in the inbox (kept for operators)',
    registers: [registry],
    collect() {
      this.set(stats()?.dead ?? 0);
    },
  });
  const webhookActivity = new WebhookActivity();
  const webhooks = new Counter({
    name: 'ingress_webhooks_total',
    help: 'Webhooks received, by source, action and outcome',
    labelNames: ['source', 'action', 'outcome'] as const,
    registers: [registry],
  });
  return {
    registry,
    webhooks,
    webhookActivity,
    countWebhook(source, action, outcome) {
      webhooks.inc({ source, action, outcome });
      if (outcome === 'rejected-signature') webhookActivity.refused(source);
      else webhookActivity.accepted(source);
    },
    latency: new Histogram({
      name: 'ingress_request_duration_seconds',
      help: 'Time from request to answer, by route',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    forwarded: new Counter({
      name: 'ingress_inbox_forwarded_total',
      help: 'Inbox delivery attempts, by source and outcome',
      labelNames: ['source', 'outcome'] as const,
      registers: [registry],
    }),
    deadEvents: new Counter({
      name: 'ingress_dead_events_total',
      help: 'Events the product cannot use, kept dead in the inbox for operators, by source and cause',
      labelNames: ['source', 'cause'] as const,
      registers: [registry],
    }),
    forwarderErrors: new Counter({
      name: 'ingress_forwarder_errors_total',
      help: 'Rounds of the inbox forwarder that failed (e.g. the inbox could not be written) and were retried',
      registers: [registry],
    }),
    reportNexudusCalls: new Counter({
      name: 'ingress_report_nexudus_calls_total',
      help: 'Nexudus API calls made by the operator reports',
      labelNames: ['report'] as const,
      registers: [registry],
    }),
    passWatchPokes: new Counter({
      name: 'ingress_pass_watch_pokes_total',
      help: 'Pokes of the pass watcher: requested (by AccessControlUpdate), sent (signals, at most one per interval), failed',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    watchInbox(next) {
      inbox = next;
    },
  };
}
