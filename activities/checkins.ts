/**
 * Door check-ins: who unlocked (Kisi user -> Nexudus customer) and the check-in itself.
 */
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import type { AccessMap } from '../src/config/access-map';
import { searchableEmail, type PayloadKeyRing } from '../src/temporal/payload-codec';
import { asActivity, needsPerson } from './failures';

export interface CheckinActivityDeps {
  kisi: Pick<KisiClient, 'getUser'>;
  nexudus: Pick<NexudusClient, 'findCoworkerByEmail' | 'getCoworker' | 'createCheckin'>;
  accessMap: () => AccessMap;
  /** Payload keys: the email the check-in records as its CustomerEmail is then hashed. */
  payloadKeys?: PayloadKeyRing;
}

export function createCheckinActivities(deps: CheckinActivityDeps) {
  return {
    /**
     * The Nexudus customer behind a Kisi user: the id we stored in the user's metadata when we
     * created it, else a customer with the same email. Null when nobody matches. `email` is the
     * value for the CustomerEmail search attribute (a keyed hash when payloads are encrypted).
     */
    async resolveCustomerForKisiUser(input: { kisiUserId: number; email: string | null }): Promise<{ customerId: number; email: string | null } | null> {
      return asActivity(async () => {
        const user = await deps.kisi.getUser(input.kisiUserId);
        const stored = user.metadata?.nexudus_customer_id;
        if (typeof stored === 'number' || (typeof stored === 'string' && /^\d+$/.test(stored))) {
          return { customerId: Number(stored), email: searchableEmail(deps.payloadKeys, user.email ?? input.email) };
        }
        const email = user.email ?? input.email;
        if (!email) return null;
        const coworker = await deps.nexudus.findCoworkerByEmail(email);
        return coworker ? { customerId: coworker.Id, email: searchableEmail(deps.payloadKeys, coworker.Email ?? email) } : null;
      });
    },

    async createDoorCheckin(input: { customerId: number; at: string }): Promise<{ ok: true; id: number | null } | { ok: false; reason: string }> {
      return asActivity(async () => {
        const businessId = deps.accessMap().nexudusBusinessId;
        if (businessId === undefined) throw needsPerson('MapWithoutBusiness', 'the access map has no nexudusBusinessId: check-ins cannot be created');
        return deps.nexudus.createCheckin({ businessId, coworkerId: input.customerId, fromTime: input.at });
      });
    },
  };
}
