/**
 * Kisi's event webhook, simulated: builds a `lock.unlock` event as Kisi sends it and POSTs it,
 * signed the way Kisi documents it (`X-Signature: sha256=<hex HMAC-SHA256 of the body>`).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { type KisiState, isMemberAt } from './kisi-state';

export interface UnlockEvent {
  uuid: string;
  type: 'lock.unlock';
  actor_type: 'User';
  actor_id: number;
  actor_name: string;
  actor_email: string;
  object_type: 'Lock';
  object_id: number;
  object_name: string;
  organization_id: number;
  place_id: number;
  success: boolean;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
}

/**
 * The event for `userId` unlocking `lockId` now. Without an explicit `success`, the outcome is what
 * Kisi would decide: access enabled and a currently valid assignment to a group that opens the lock.
 * Undefined when the lock or the user does not exist.
 */
export function buildUnlockEvent(state: KisiState, lockId: number, userId: number, success?: boolean, now: Date = new Date()): UnlockEvent | undefined {
  const lock = state.locks.get(lockId);
  const user = state.users.get(userId);
  if (!lock || !user) return undefined;
  const granted =
    success ??
    (user.access_enabled &&
      [...state.groupLocks.values()].some((gl) => gl.lock_id === lockId && isMemberAt(state, userId, gl.group_id, now)));
  return {
    uuid: randomUUID(),
    type: 'lock.unlock',
    actor_type: 'User',
    actor_id: user.id,
    actor_name: user.name,
    actor_email: user.email,
    object_type: 'Lock',
    object_id: lock.id,
    object_name: lock.name,
    organization_id: state.organization.id,
    place_id: lock.place_id,
    success: granted,
    // Kisi does not publish its codes; these are the sandbox's.
    error_code: granted ? null : 'access_denied',
    error_message: granted ? null : 'User has no access to this lock at this time',
    created_at: now.toISOString(),
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes, keyed by the signature key. */
export function signKisiBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  url: string;
  status?: number;
  error?: string;
  signed: boolean;
}

/** POSTs one event; never throws (the sandbox reports what the receiver said). */
export async function deliverEvent(url: string, event: UnlockEvent, secret: string | undefined, timeoutMs = 5000): Promise<Delivery> {
  const body = JSON.stringify(event);
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'Kisi-Sandbox-Webhook' };
  if (secret) headers['X-Signature'] = signKisiBody(body, secret);
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { url, status: res.status, signed: secret !== undefined && secret !== '' };
  } catch (e) {
    return { url, error: (e as Error).message, signed: secret !== undefined && secret !== '' };
  }
}
