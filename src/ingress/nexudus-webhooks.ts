/**
 * `POST /webhooks/nexudus/:action`: one URL per Nexudus webhook action (the body does not name
 * its action). Order of checks, cheapest and safest first: size (413), signature over the raw
 * bytes (401), action (202 ignored), JSON (400), shape per action (422); then the intake.
 *
 * Answers: 200 when Temporal accepted every entity, 202 when something was queued or ignored,
 * with `{result, outcome|reason, workflowId, entityKey}` per entity.
 */
import express, { Router } from 'express';
import type { Logger } from '../logger';
import { contextOf } from './request-context';
import { describeIssues, parseJsonOr400, sendError } from './http-errors';
import type { EventIntake, IntakeAnswer } from './intake';
import type { IngressMetrics } from './metrics';
import { entitiesOf, nexudusEntityKey, supportedNexudusAction, validateEntity, webhookBodySchema, type ValidatedEntity } from './nexudus-events';
import { verifyNexudusSignature } from './signatures';
import { PermanentEventError, type DeliveryPlan, type EventTranslator } from './translate';

/** Nexudus bodies hold one record; anything near this is not a webhook we want. */
export const WEBHOOK_BODY_LIMIT = '1mb';

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
    const count = (outcome: string) => deps.metrics?.webhooks.inc({ source: 'nexudus', action: actionLabel, outcome });
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);

    const signature = verifyNexudusSignature(rawBody, req.get('x-nexudus-hook-signature'), deps.secret);
    if (!signature.ok) {
      count('rejected-signature');
      log.warn({ action: actionLabel, reason: signature.reason }, 'nexudus webhook: signature rejected');
      sendError(res, 401, 'invalid signature', { header: 'X-Nexudus-Hook-Signature', reason: signature.reason });
      return;
    }
    if (!action) {
      count('ignored');
      // The name comes from the URL: logged truncated, and only after the signature proved the sender.
      log.warn({ action: actionParam.slice(0, 100) }, 'nexudus webhook: action not handled, ignored');
      res.status(202).json({ ignored: `action ${actionParam.slice(0, 100)} is not handled by this integration` });
      return;
    }

    const parsed = parseJsonOr400(rawBody, res, () => count('rejected-json'));
    if (!parsed) return;
    const { json } = parsed;
    const body = webhookBodySchema.safeParse(json);
    if (!body.success) {
      count('rejected-invalid');
      sendError(res, 422, 'invalid payload', describeIssues(body.error.issues));
      return;
    }

    // Every entity must be valid before anything starts: a half-applied body would be retried whole.
    const entities: ValidatedEntity[] = [];
    const plans: Array<DeliveryPlan | 'reread'> = [];
    const records = entitiesOf(body.data);
    for (const [index, record] of records.entries()) {
      const validation = validateEntity(action, record);
      if (!validation.ok) {
        count('rejected-invalid');
        sendError(res, 422, 'invalid payload', describeIssues(validation.issues, Array.isArray(body.data) ? [index] : []));
        return;
      }
      try {
        plans.push(deps.translator.fromBody({ source: 'nexudus', action, record }));
      } catch (error) {
        if (!(error instanceof PermanentEventError)) throw error;
        count('rejected-invalid');
        sendError(res, 422, 'invalid payload', [{ path: Array.isArray(body.data) ? String(index) : '(body)', message: error.message, code: 'unreadable' }]);
        return;
      }
      entities.push(validation.value);
    }

    const answers: IntakeAnswer[] = [];
    const text = rawBody.toString('utf8');
    for (const [index, entity] of entities.entries()) {
      const entityKey = nexudusEntityKey(entity.entity, entity.id);
      const answer = await deps.intake.accept(
        { entityKey, source: 'nexudus', action, body: text, entityIndex: index, receivedAt, requestId },
        plans[index]!,
      );
      answers.push(answer);
      count(answer.result);
      log.info(
        { action, entityKey, workflowId: answer.workflowId, result: answer.result, ...(answer.result === 'delivered' ? { outcome: answer.outcome } : { reason: answer.reason }), signature: signature.encoding },
        `nexudus webhook ${action}: ${answer.result}`,
      );
    }
    const status = answers.every((a) => a.result === 'delivered') ? 200 : 202;
    res.status(status).json(answers.length === 1 ? { ...answers[0], requestId } : { results: answers, requestId });
  });

  return router;
}
