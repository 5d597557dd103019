/**
 * The webhook activity behind the console's webhook health: last signed and last refused delivery
 * per source, and refusals within the last 24 hours, counted by the metrics' one counting call.
 */
import { createIngressMetrics } from '../../src/ingress/metrics';
import { REFUSED_WINDOW_MS, WebhookActivity } from '../../src/ingress/webhook-activity';

test('last accepted and last refused per source; refusals counted within the window only', () => {
  let now = Date.parse('2026-03-01T10:00:30Z');
  const activity = new WebhookActivity({ now: () => now });
  expect(activity.of('nexudus')).toEqual({ lastAcceptedAt: null, lastRefusedAt: null, refusedRecently: 0, windowMs: REFUSED_WINDOW_MS });

  activity.refused('nexudus');
  const firstRefusal = now;
  now += 3_600_000;
  activity.accepted('nexudus');
  activity.refused('nexudus');
  activity.refused('nexudus');
  expect(activity.of('nexudus')).toMatchObject({ lastAcceptedAt: now, lastRefusedAt: now, refusedRecently: 3 });
  // The other source is its own.
  expect(activity.of('kisi')).toMatchObject({ lastAcceptedAt: null, lastRefusedAt: null, refusedRecently: 0 });

  // A day after the first refusal (and its minute) it no longer counts; the later two still do.
  now = firstRefusal + REFUSED_WINDOW_MS + 60_000;
  expect(activity.of('nexudus')).toMatchObject({ refusedRecently: 2, lastRefusedAt: firstRefusal + 3_600_000 });
  now += 3_600_000;
  expect(activity.of('nexudus')).toMatchObject({ refusedRecently: 0, lastAcceptedAt: firstRefusal + 3_600_000 });
});

test('countWebhook counts the Prometheus counter and the activity: a rejected signature is a refusal, anything else accepted', async () => {
  const metrics = createIngressMetrics({ defaultMetrics: false });
  metrics.countWebhook('kisi', 'lock.unlock', 'rejected-signature');
  expect(metrics.webhookActivity.of('kisi')).toMatchObject({ refusedRecently: 1, lastAcceptedAt: null });
  for (const outcome of ['delivered', 'queued', 'dead', 'ignored']) metrics.countWebhook('nexudus', 'BookingCreate', outcome);
  expect(metrics.webhookActivity.of('nexudus')).toMatchObject({ refusedRecently: 0, lastAcceptedAt: expect.any(Number) });
  const text = await metrics.registry.metrics();
  expect(text).toContain('ingress_webhooks_total{source="kisi",action="lock.unlock",outcome="rejected-signature"} 1');
  expect(text).toContain('ingress_webhooks_total{source="nexudus",action="BookingCreate",outcome="queued"} 1');
});
