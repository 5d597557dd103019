/**
 * The console's Problems page (`GET /console/problems`): what needs an operator, in five sections
 * that each read their own source and fail on their own (src/console/problems/sections.ts).
 * Dead events are retried or dropped here:
 *
 *   POST /console/problems/dead-events/:id/retry   back into the queue, moved at once
 *   POST /console/problems/dead-events/:id/drop    without `confirm=yes`: a page asking to confirm
 *                                                   (nothing changes); with it: deleted
 *
 * Every change answers with a redirect to this page and a one-line notice; a bad or unknown id
 * changes nothing and says so. Grants are retried through Access now's route (CONSOLE_PATHS.grantRetry).
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { ConsoleDeps } from '../context';
import { html } from '../html';
import { sendPage } from '../layout';
import { CONSOLE_PATHS } from '../paths';
import { pageContext, redirectWithNotice, type PageRoutes } from '../router';
import { DeadEventNotRetryableError } from '../../ingress/inbox';
import { clockIn, timeOf, type Clock } from '../time';
import {
  deadEventsSection,
  failedCheckinsSection,
  grantsSection,
  healthSection,
  loadDeadEvents,
  loadFailedCheckins,
  loadGrants,
  loadHealth,
  loadReconcile,
  reconcileSection,
} from '../problems/sections';

const eventId = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const listQuery = z.object({ before: eventId.optional() });
const dropForm = z.object({ confirm: z.literal('yes').optional() });

export function problemsPage(deps: ConsoleDeps): PageRoutes {
  return (router: Router) => {
    router.get(CONSOLE_PATHS.problems, async (req, res) => {
      const ctx = pageContext(req);
      const clock = clockFor(deps);
      const query = listQuery.safeParse(req.query);
      const before = query.success ? query.data.before : undefined;
      const [checkins, dead, grants, reconcile, health] = await Promise.all([
        loadFailedCheckins(deps),
        loadDeadEvents(deps, before),
        loadGrants(deps),
        loadReconcile(deps),
        loadHealth(deps),
      ]);
      sendPage(res, ctx, {
        title: 'Problems',
        body: html`
          <h1>Problems</h1>
          <p class="hint">Times are shown in ${clock.timeZone} (the access map's time zone).</p>
          <nav aria-label="Sections of this page">
            <ul class="toc">
              <li><a href="#failed-checkins">Failed check-ins</a></li>
              <li><a href="#dead-events">Dead events</a></li>
              <li><a href="#grants">Grants needing attention</a></li>
              <li><a href="#reconcile">Latest reconcile</a></li>
              <li><a href="#webhook-health">Webhook health</a></li>
            </ul>
          </nav>
          ${failedCheckinsSection(checkins, clock, deps)}
          ${deadEventsSection(dead, clock, ctx.csrfToken, query.success ? undefined : 'That is not a page of dead events: showing the newest.')}
          ${grantsSection(grants, clock, ctx.csrfToken, deps)}
          ${reconcileSection(reconcile, clock, deps)}
          ${healthSection(health, clock)}`,
      });
    });

    router.post(`${CONSOLE_PATHS.problems}/dead-events/:id/retry`, (req, res) => {
      const id = deadEventId(req, res);
      if (id === undefined) return;
      const event = deps.inbox.event(id);
      try {
        if (!event || event.status !== 'dead' || !deps.inbox.retryDead(id)) {
          gone(req, res, id);
          return;
        }
      } catch (error) {
        if (!(error instanceof DeadEventNotRetryableError)) throw error;
        redirectWithNotice(req, res, CONSOLE_PATHS.problems, { kind: 'error', text: `Event ${id} was not retried: ${error.message}.` });
        return;
      }
      deps.nudgeForwarder();
      deps.logger.info({ deadEventId: id, entityKey: event.entityKey }, 'console: dead event retried');
      redirectWithNotice(req, res, CONSOLE_PATHS.problems, { kind: 'ok', text: `Event ${id} (${event.entityKey}) is back in the queue and is being delivered.` });
    });

    router.post(`${CONSOLE_PATHS.problems}/dead-events/:id/drop`, (req, res) => {
      const id = deadEventId(req, res);
      if (id === undefined) return;
      const event = deps.inbox.event(id);
      if (!event || event.status !== 'dead') {
        gone(req, res, id);
        return;
      }
      const form = dropForm.safeParse(req.body ?? {});
      if (!form.success || form.data.confirm !== 'yes') {
        sendDropConfirmation(req, res, clockFor(deps), event);
        return;
      }
      if (!deps.inbox.dropDead(id)) {
        gone(req, res, id);
        return;
      }
      deps.logger.info({ deadEventId: id, entityKey: event.entityKey }, 'console: dead event dropped');
      redirectWithNotice(req, res, CONSOLE_PATHS.problems, { kind: 'ok', text: `Event ${id} (${event.entityKey}) is dropped.` });
    });
  };
}

/** The access map's zone; UTC when the map cannot be read (the page still shows). */
function clockFor(deps: ConsoleDeps): Clock {
  try {
    return clockIn(deps.accessMap().timeZone);
  } catch {
    return clockIn('UTC');
  }
}

/** The route's id, or a notice that it is none (and undefined). */
function deadEventId(req: Request, res: Response): number | undefined {
  const id = eventId.safeParse(req.params.id);
  if (id.success) return id.data;
  redirectWithNotice(req, res, CONSOLE_PATHS.problems, { kind: 'error', text: `\u201c${String(req.params.id).slice(0, 40)}\u201d is not a dead event id. Nothing was changed.` });
  return undefined;
}

function gone(req: Request, res: Response, id: number): void {
  redirectWithNotice(req, res, CONSOLE_PATHS.problems, { kind: 'error', text: `There is no dead event ${id} (it may have been retried or dropped already). Nothing was changed.` });
}

function sendDropConfirmation(req: Request, res: Response, clock: Clock, event: NonNullable<ReturnType<ConsoleDeps['inbox']['event']>>): void {
  const ctx = pageContext(req);
  sendPage(res, ctx, {
    title: `Drop event ${event.id}?`,
    body: html`
      <h1>Drop dead event ${event.id}?</h1>
      <p>The event is deleted from the inbox and never delivered. This cannot be undone: if its record still matters, fix the cause and retry it instead.</p>
      <dl class="facts">
        <dt>Source and action</dt><dd>${event.source} ${event.action}</dd>
        <dt>Record</dt><dd>${event.entityKey}</dd>
        <dt>Received</dt><dd>${timeOf(clock, event.receivedAt)}</dd>
        <dt>Died</dt><dd>${timeOf(clock, event.deadAt)}</dd>
        <dt>Reason</dt><dd>${event.reason}</dd>
      </dl>
      <div class="actions">
        <form method="post" action=${`${CONSOLE_PATHS.problems}/dead-events/${event.id}/drop`}>
          <input type="hidden" name="_csrf" value=${ctx.csrfToken} />
          <input type="hidden" name="confirm" value="yes" />
          <button type="submit" class="danger">Drop event ${event.id}</button>
        </form>
        <a class="button secondary" href=${`${CONSOLE_PATHS.problems}#dead-events`}>Keep it</a>
      </div>`,
  });
}
