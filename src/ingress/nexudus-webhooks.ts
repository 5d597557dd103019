/**
 * `POST /webhooks/nexudus/:action`: one URL per Nexudus webhook action (the body does not name
 * its action). Order of checks, cheapest and safest first: size (413), signature over the raw
 * bytes (401); then, for a correctly signed delivery, never a refusal: Nexudus counts every 4xx
 * and 5xx as a failure and disables the webhook after 10, so one unforeseen body shape would
 * silently turn the integration off.
 *
 * What the product cannot use (an action it does not handle, a body that is not JSON or not an
 * entity) is kept as a dead event with its reason (src/ingress/dead-letters.ts). An entity that
 * fails validation but names its record (`Id`; `CoworkerId` for customer actions) is re-read from
 * Nexudus instead (a customer is synced), so a body shape we did not foresee still gets the
 * record's latest state. Only the fields the product reads are stored (src/ingress/stored-body.ts).
 *
 * Answers: 200 when Temporal accepted every entity; otherwise 202 with, per entity,
 * `{result: queued | ignored | dead, reason, entityKey, ...}`.
 */
import express, { Router } from 'express';
import type { Logger } from '../config/logger';
import { contextOf } from './request-context';
import { readJson } from './http-errors';
import type { DeadCause, NewInboxEvent } from './inbox';
import type { EventIntake, IntakeAnswer } from './intake';
import type { IngressMetrics } from './metrics';
import {
  nexudusEntityKey,
  salvageEntityId,
  SUPPORTED_NEXUDUS_ACTIONS,
  supportedNexudusAction,
  validateEntity,
  type SupportedNexudusAction,
} from './nexudus-events';
import { clientAddress } from './operator-auth';
import { verifyNexudusSignature } from './signatures';
import { describedBody, storedNexudusEntity } from './stored-body';
import { PermanentEventError, type DeliveryPlan, type EventTranslator } from './translate';

/** Nexudus bodies hold one record; anything near this is not a webhook we want. */
export const WEBHOOK_BODY_LIMIT = '1mb';
/** Entities one body may carry (one in practice); a longer body is kept dead whole. */
const MAX_ENTITIES = 100;

export interface NexudusWebhookDeps {
  intake: EventIntake;
  translator: EventTranslator;
  /** Undefined: signatures are not checked (development only). */
  secret: string | undefined;
  logger: Logger;
  metrics?: IngressMetrics;
}

export function nexudusWebhookRoutes(deps: NexudusWebhookDeps): Router {
  const router = Router();
  const raw = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT });

  router.post('/webhooks/nexudus/:action', raw, async (req, res) => {
    const { requestId, log } = contextOf(res);
    const receivedAt = Date.now();
    const actionParam = String(req.params.action);
    const action = supportedNexudusAction(actionParam);
    const actionLabel = action ?? 'unsupported';
    const count = (outcome: string) => deps.metrics?.countWebhook('nexudus', actionLabel, outcome);
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);

    const signature = verifyNexudusSignature(rawBody, req.get('x-nexudus-hook-signature'), deps.secret);
    if (!signature.ok) {
      count('rejected-signature');
      log.warn({ action: actionLabel, reason: signature.reason, clientAddress: clientAddress(req) }, 'nexudus webhook: signature rejected');
      res.status(401).json({ error: 'invalid signature', details: { header: 'X-Nexudus-Hook-Signature', reason: signature.reason } });
      return;
    }

    // From here on the sender is proven: every answer is 2xx.
    const answers: IntakeAnswer[] = [];
    const event = (entityKey: string, body: string, index: number): NewInboxEvent => ({
      entityKey,
      source: 'nexudus',
      // The name comes from the URL: stored truncated, and only after the signature proved the sender.
      action: action ?? actionParam.slice(0, 100),
      body,
      entityIndex: 0,
      receivedAt,
      requestId: requestId + (index > 0 ? `#${index}` : ''),
    });
    const dead = (entityKey: string, body: string, index: number, reason: string, cause: DeadCause, bodyKept = true) =>
      answers.push(deps.intake.dead(event(entityKey, body, index), reason, cause, undefined, { bodyKept }));

    const parsed = readJson(rawBody);
    if (!action) {
      dead('nexudus-unhandled', parsed.ok ? JSON.stringify({ keys: topLevelKeys(parsed.json) }) : describedBody(rawBody), 0, `Nexudus action ${actionParam.slice(0, 100)} is not handled by this integration`, 'unhandled-action', false);
    } else if (!parsed.ok) {
      dead('nexudus-unreadable', describedBody(rawBody), 0, parsed.reason, 'not-json', false);
    } else {
      const records = Array.isArray(parsed.json) ? parsed.json : [parsed.json];
      if (records.length === 0 || records.length > MAX_ENTITIES) {
        dead('nexudus-unreadable', describedBody(rawBody), 0, `expected a JSON array of 1 to ${MAX_ENTITIES} entities, got ${Array.isArray(parsed.json) ? `${records.length}` : 'something else'}`, 'unreadable-body', false);
      } else {
        for (const [index, record] of records.entries()) {
          answers.push(await acceptEntity(action, record, index));
        }
      }
    }

    for (const answer of answers) {
      count(answer.result);
      log.info(
        { action: actionLabel, entityKey: answer.entityKey, workflowId: answer.workflowId, result: answer.result, ...(answer.result === 'delivered' ? { outcome: answer.outcome } : { reason: answer.reason }), signature: signature.encoding },
        `nexudus webhook ${actionLabel}: ${answer.result}`,
      );
    }
    const status = answers.every((a) => a.result === 'delivered') ? 200 : 202;
    res.status(status).json(answers.length === 1 ? { ...answers[0], requestId } : { results: answers, requestId });

    /** One entity of a signed body: delivered, queued (perhaps for a re-read), or kept dead. */
    async function acceptEntity(supported: SupportedNexudusAction, record: unknown, index: number): Promise<IntakeAnswer> {
      const { entity } = SUPPORTED_NEXUDUS_ACTIONS[supported];
      if (!isObject(record)) {
        return deps.intake.dead(event('nexudus-unreadable', JSON.stringify({ type: typeof record }), index), `entity ${index} is not a JSON object`, 'unreadable-body', undefined, { bodyKept: false });
      }
      const validation = validateEntity(supported, record);
      let plan: DeliveryPlan | 'reread' | undefined;
      let stored: { entityKey: string; body: string } | undefined;
      let problem: string | undefined;
      if (validation.ok) {
        stored = { entityKey: nexudusEntityKey(entity, validation.value.id), body: storedNexudusEntity(entity, record) };
        try {
          plan = deps.translator.fromBody({ source: 'nexudus', action: supported, record });
        } catch (error) {
          if (!(error instanceof PermanentEventError)) throw error;
          problem = error.message;
        }
      } else {
        problem = validation.issues.map((i) => `${i.path.join('.') || '(entity)'}: ${i.message}`).join('; ');
      }
      if (plan === undefined) {
        // Unusable as it came: re-read the record it names (a customer: sync it), else keep it dead.
        const id = salvageEntityId(entity, record);
        if (id === undefined) {
          return deps.intake.dead(event(`${entity}-unknown`, storedNexudusEntity(entity, record), index), `invalid ${supported} body, naming no record: ${problem}`, 'invalid-entity');
        }
        const minimal = { Id: id };
        stored = { entityKey: nexudusEntityKey(entity, id), body: JSON.stringify(minimal) };
        plan = deps.translator.fromBody({ source: 'nexudus', action: supported, record: minimal });
        log.warn({ action: supported, entityKey: stored.entityKey, problem }, 'nexudus webhook: body not usable as it came; acting on the record it names');
      }
      return deps.intake.accept(event(stored!.entityKey, stored!.body, index), plan);
    }
  });

  return router;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The shape of an unhandled body for an operator, without its values. */
function topLevelKeys(json: unknown): string[] {
  const first = Array.isArray(json) ? json[0] : json;
  return isObject(first) ? Object.keys(first).slice(0, 50).map((k) => k.slice(0, 50)) : [];
}
