/**
 * The operators' view of the inbox's dead events (webhooks the product could not use, events
 * Temporal refused as invalid, records gone from Nexudus), behind the operator token:
 *
 *   GET    /reports/dead-events?limit=50&before=<id>   newest first, paged by id
 *   GET    /reports/dead-events/:id                    one event with its stored fields
 *   POST   /ops/dead-events/:id/retry                  back into the queue, in its record's order
 *   DELETE /ops/dead-events/:id                        gone
 *
 * `npm run inbox -- list|show|retry|drop` (src/cli/inbox.ts) calls these.
 */
import { Router } from 'express';
import { z } from 'zod';
import { DeadEventNotRetryableError, type Inbox } from './inbox';
import { describeIssues, sendError } from './http-errors';

export interface DeadEventDeps {
  inbox: Inbox;
  /** Told after a retry, so the event moves at once. */
  onRetried: () => void;
}

const listQuery = z
  .object({
    limit: z.coerce.number({ message: 'expected a number' }).int().min(1).max(500).default(50),
    before: z.coerce.number({ message: 'expected an event id' }).int().positive().optional(),
  })
  .strict();
const idParam = z.coerce.number({ message: 'expected an event id' }).int().positive();

export function deadEventRoutes(deps: DeadEventDeps): Router {
  const router = Router();

  router.get('/reports/dead-events', (req, res) => {
    const query = listQuery.safeParse(req.query);
    if (!query.success) {
      sendError(res, 400, 'invalid query', describeIssues(query.error.issues));
      return;
    }
    const items = deps.inbox.listDead({ limit: query.data.limit, beforeId: query.data.before });
    const next = items.length === query.data.limit ? items[items.length - 1]!.id : null;
    res.json({ total: deps.inbox.stats().dead, items, next, retentionDays: Math.round((deps.inbox.deadRetentionMs / 86_400_000) * 10) / 10 });
  });

  router.get('/reports/dead-events/:id', (req, res) => {
    const id = idParam.safeParse(req.params.id);
    const event = id.success ? deps.inbox.event(id.data) : undefined;
    if (!event || event.status !== 'dead') {
      sendError(res, 404, 'no such dead event', { id: req.params.id });
      return;
    }
    res.json(event);
  });

  router.post('/ops/dead-events/:id/retry', (req, res) => {
    const id = idParam.safeParse(req.params.id);
    try {
      if (!id.success || !deps.inbox.retryDead(id.data)) {
        sendError(res, 404, 'no such dead event', { id: req.params.id });
        return;
      }
    } catch (error) {
      if (!(error instanceof DeadEventNotRetryableError)) throw error;
      sendError(res, 409, 'not retryable', { reason: error.message });
      return;
    }
    deps.onRetried();
    res.json({ id: id.data, retried: true, event: deps.inbox.event(id.data) ?? null });
  });

  router.delete('/ops/dead-events/:id', (req, res) => {
    const id = idParam.safeParse(req.params.id);
    if (!id.success || !deps.inbox.dropDead(id.data)) {
      sendError(res, 404, 'no such dead event', { id: req.params.id });
      return;
    }
    res.json({ id: id.data, dropped: true });
  });

  return router;
}
