/**
 * Builds grant specs from Nexudus records (`SpecSource`), mapped through the access map: from a
 * record at hand (webhook body) or by reading it
 * (re-read on retry, reconcile, customer sync). A record that no longer exists (404) yields an
 * ended spec, so every caller treats deletion the same way.
 */
import type { AccessMap } from '../config/access-map';
import { isNotFound } from './errors';
import type { NexudusClient } from './nexudus';
import { bookingSpec, contractSpec, passSpec, type GrantSpec } from '../domain/grant-spec';
import type { GrantKind } from '../domain/ids';
import {
  contractDeskIds,
  type NexudusBooking,
  type NexudusContract,
  type NexudusCoworkerTimePass,
  type NexudusTimePass,
} from '../domain/nexudus-entities';

export interface SpecSourceDeps {
  nexudus: Pick<NexudusClient, 'getBooking' | 'getContract' | 'getCoworkerTimePass' | 'listTimePasses'>;
  accessMap: () => AccessMap;
  now?: () => number;
}

const PASS_TYPES_TTL_MS = 10 * 60_000;

export class SpecSource {
  private passTypes: { at: number; byId: Map<number, NexudusTimePass> } | undefined;

  constructor(private readonly deps: SpecSourceDeps) {}

  private ctx() {
    const map = this.deps.accessMap();
    return { map, timeZone: map.timeZone, now: (this.deps.now ?? Date.now)() };
  }

  fromBooking(booking: NexudusBooking, options: { deleted?: boolean } = {}): GrantSpec {
    const { map, ...ctx } = this.ctx();
    return bookingSpec(booking, map.forBooking(booking.ResourceId, booking.FloorPlanDeskId), ctx, options);
  }

  fromContract(contract: NexudusContract, options: { deleted?: boolean } = {}): GrantSpec {
    const { map, ...ctx } = this.ctx();
    return contractSpec(contract, map.forContract(contractDeskIds(contract)), ctx, options);
  }

  async fromPass(
    pass: NexudusCoworkerTimePass,
    options: { deleted?: boolean; customerName?: string | null; customerEmail?: string | null } = {},
  ): Promise<GrantSpec> {
    const passType = await this.passType(pass.TimePassId);
    const { map, ...ctx } = this.ctx();
    return passSpec(pass, passType, map.forPass(pass.TimePassId), ctx, options);
  }

  /** Reads the record behind a grant; gone means ended. */
  async load(kind: GrantKind, sourceId: number, customerId: number): Promise<GrantSpec> {
    try {
      if (kind === 'booking') return this.fromBooking(await this.deps.nexudus.getBooking(sourceId));
      if (kind === 'contract') return this.fromContract(await this.deps.nexudus.getContract(sourceId));
      return await this.fromPass(await this.deps.nexudus.getCoworkerTimePass(sourceId));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return goneSpec(kind, sourceId, customerId);
    }
  }

  private async passType(id: number): Promise<NexudusTimePass | undefined> {
    const now = Date.now();
    if (!this.passTypes || now - this.passTypes.at > PASS_TYPES_TTL_MS || !this.passTypes.byId.has(id)) {
      const all = await this.deps.nexudus.listTimePasses();
      this.passTypes = { at: now, byId: new Map(all.map((t) => [t.Id, t])) };
    }
    return this.passTypes.byId.get(id);
  }
}

/** The spec of a record Nexudus no longer has (customerId UNKNOWN_CUSTOMER when not known). */
export function goneSpec(kind: GrantKind, sourceId: number, customerId: number): GrantSpec {
  return {
    kind,
    sourceId,
    customerId,
    customerName: null,
    customerEmail: null,
    version: null,
    lifecycle: 'ended',
    endedReason: 'deleted',
    window: null,
    groups: [],
    label: `${kind} ${sourceId}`,
  };
}
