/**
 * `POST /webhooks/kisi`: Kisi's event webhook. A successful unlock on a check-in door starts the
 * check-in workflow (`checkin-<event uuid>`, REJECT_DUPLICATE: one check-in per event however often
 * Kisi delivers it); every other event is acknowledged (202) and ignored. A correctly signed
 * delivery is never refused (Kisi disables an integration that keeps failing): a body that is not
 * JSON or not an event is kept as a dead event with its reason. Only a missing or wrong signature
 * (401) and a body over the limit (413) are refused.
 */
import express, { Router } from 'express';
import type { AccessMap } from '../config/access-map';
import type { Logger } from '../config/logger';
import { readJson, sendError } from './http-errors';
import type { EventIntake, IntakeAnswer } from './intake';
import { decideKisiEvent, kisiEntityKey } from './kisi-events';
import type { IngressMetrics } from './metrics';
import { clientAddress } from './operator-auth';
import { RecentSet } from './recent-set';
import { contextOf } from './request-context';
import { verifyKisiSignature } from './signatures';
import { describedBody, storedKisiEvent } from './stored-body';
import { WEBHOOK_BODY_LIMIT } from './nexudus-webhooks';
import { checkinWorkflowId } from '../domain/ids';

export interface KisiWebhookDeps {
  intake: EventIntake;
  accessMap: () => AccessMap;
  /** Undefined: see `acceptUnsigned`. */
  secret: string | undefined;
  /** Development only: without a secret, accept unsigned events (otherwise every event is refused). */
  acceptUnsigned: boolean;
  logger: Logger;
  metrics?: IngressMetrics;
  /** Event uuids remembered to answer repeats at once (default 10,000). */
  recentCapacity?: number;
}

export function kisiWebhookRoutes(deps: KisiWebhookDeps): Router {
  const router = Router();
  const recent = new RecentSet(deps.recentCapacity ?? 10_000);

  router.post('/webhooks/kisi', express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT }), async (req, res) => {
    const { requestId, log } = contextOf(res);
    const receivedAt = Date.now();
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let action = 'unknown';
    const count = (outcome: string) => deps.metrics?.countWebhook('kisi', action, outcome);

    if (deps.secret === undefined && !deps.acceptUnsigned) {
      count('rejected-signature');
      log.warn({ clientAddress: clientAddress(req) }, 'kisi webhook: refused, KISI_WEBHOOK_SECRET is not set');
      sendError(res, 401, 'kisi webhooks are not configured', { reason: 'KISI_WEBHOOK_SECRET is not set' });
      return;
    }
    const signature = verifyKisiSignature(rawBody, req.get('x-signature'), deps.secret);
    if (!signature.ok) {
      count('rejected-signature');
      log.warn({ reason: signature.reason, clientAddress: clientAddress(req) }, 'kisi webhook: signature rejected');
      sendError(res, 401, 'invalid signature', { header: 'X-Signature', reason: signature.reason });
      return;
    }

    // From here on the sender is proven: every answer is 2xx.
    const reply = (answer: IntakeAnswer) => {
      count(answer.result === 'delivered' && answer.outcome === 'checkin-duplicate' ? 'duplicate' : answer.result);
      res.status(answer.result === 'delivered' ? 200 : 202).json({ ...answer, requestId });
    };
    const keepDead = (entityKey: string, body: string, reason: string, cause: 'not-json' | 'invalid-event', bodyKept: boolean) =>
      reply(deps.intake.dead({ entityKey, source: 'kisi', action: 'unknown', body, entityIndex: 0, receivedAt, requestId }, reason, cause, undefined, { bodyKept }));

    const parsed = readJson(rawBody);
    if (!parsed.ok) {
      keepDead('kisi-unreadable', describedBody(rawBody), parsed.reason, 'not-json', false);
      return;
    }
    const decision = decideKisiEvent(parsed.json, deps.accessMap());
    if (decision.kind === 'invalid') {
      const reason = `invalid Kisi event: ${decision.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`;
      keepDead('kisi-invalid', storedKisiEvent(parsed.json), reason, 'invalid-event', true);
      return;
    }
    // Bounded label: the one type we act on, or "other".
    action = (parsed.json as { type?: unknown }).type === 'lock.unlock' ? 'lock.unlock' : 'other';
    if (decision.kind === 'ignore') {
      count('ignored');
      log.debug({ reason: decision.reason }, 'kisi webhook: ignored');
      res.status(202).json({ ignored: decision.reason, requestId });
      return;
    }

    const { input } = decision;
    const workflowId = checkinWorkflowId(input.eventUuid);
    if (recent.has(input.eventUuid)) {
      count('duplicate');
      log.info({ workflowId, lockId: input.lockId }, 'kisi webhook: repeated event, already handled');
      res.status(200).json({ result: 'delivered', outcome: 'checkin-duplicate', workflowId, requestId });
      return;
    }
    const answer = await deps.intake.accept(
      { entityKey: kisiEntityKey(input.eventUuid), source: 'kisi', action: 'lock.unlock', body: storedKisiEvent(parsed.json), entityIndex: 0, receivedAt, requestId },
      { kind: 'checkin', workflowId, input },
    );
    if (answer.result === 'delivered') recent.add(input.eventUuid);
    log.info(
      { workflowId, lockId: input.lockId, kisiUserId: input.kisiUserId, result: answer.result, ...(answer.result === 'delivered' ? { outcome: answer.outcome } : { reason: answer.reason }) },
      `kisi unlock: ${answer.result}`,
    );
    reply(answer);
  });

  return router;
}
