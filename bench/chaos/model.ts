/**
 * The drill's own idea of who should be in which Kisi group when, built only from what the drill
 * did to Nexudus (each booking's versions and the moment each was made) and the product's
 * documented rules (docs/architecture.md "How access is granted"):
 *   - a booking opens its room's group from FromTime - lead to ToTime + lag; a deleted booking opens
 *     nothing from the moment it is deleted;
 *   - Kisi holds one role assignment per user and group, for the earliest span of touching windows
 *     that has not ended; later spans follow when it ends.
 * Nothing here reads the product's code or asks the product what it did.
 */

export interface Version {
  /** When the drill made this change in Nexudus (epoch ms). */
  appliedAt: number;
  deleted: boolean;
  room: number;
  /** Booking times (epoch ms), before lead and lag. */
  from: number;
  to: number;
}

export interface Window {
  from: number;
  until: number;
}

export class ExpectedAccess {
  private readonly versions = new Map<number, Version[]>();
  private readonly customerOf = new Map<number, number>();

  constructor(
    private readonly leadMs: number,
    private readonly lagMs: number,
  ) {}

  record(booking: number, customer: number, version: Version): void {
    this.customerOf.set(booking, customer);
    const list = this.versions.get(booking) ?? [];
    list.push(version);
    this.versions.set(booking, list);
  }

  /** The version of a booking in force at `t` (undefined before it was created). */
  private versionAt(booking: number, t: number): Version | undefined {
    let current: Version | undefined;
    for (const v of this.versions.get(booking) ?? []) if (v.appliedAt <= t) current = v;
    return current;
  }

  private bookingsOf(customer: number): number[] {
    return [...this.customerOf].filter(([, c]) => c === customer).map(([b]) => b);
  }

  /** Access windows of one customer in one room's group, as Nexudus says at `t`. */
  windows(customer: number, room: number, t: number): Window[] {
    const out: Window[] = [];
    for (const b of this.bookingsOf(customer)) {
      const v = this.versionAt(b, t);
      if (!v || v.deleted || v.room !== room) continue;
      out.push({ from: v.from - this.leadMs, until: v.to + this.lagMs });
    }
    return out;
  }

  /** Should the customer be able to open the room's doors at `t`? */
  member(customer: number, room: number, t: number): boolean {
    return this.memberAsOf(customer, room, t, t);
  }

  /** Would the bookings as they stood at `view` let the customer in at `t`? */
  memberAsOf(customer: number, room: number, view: number, t: number): boolean {
    return this.windows(customer, room, view).some((w) => w.from <= t && t < w.until);
  }

  /** When the drill changed any booking of the customer that was ever in this room (creation included). */
  changesOf(customer: number, room: number): number[] {
    const out: number[] = [];
    for (const b of this.bookingsOf(customer)) {
      const versions = this.versions.get(b) ?? [];
      if (versions.some((v) => !v.deleted && v.room === room)) out.push(...versions.map((v) => v.appliedAt));
    }
    return out;
  }

  /** The pair's windows (bookings as they stood at `view`) merged into spans of touching windows, in time order. */
  spans(customer: number, room: number, view: number): Window[] {
    const windows = this.windows(customer, room, view).sort((a, b) => a.from - b.from || a.until - b.until);
    const spans: Window[] = [];
    for (const w of windows) {
      const last = spans[spans.length - 1];
      if (last && w.from <= last.until) last.until = Math.max(last.until, w.until);
      else spans.push({ ...w });
    }
    return spans;
  }

  /** The span Kisi should hold at `t`: the earliest span of touching windows that has not ended. */
  firstLiveSpan(customer: number, room: number, t: number): Window | null {
    return this.spans(customer, room, t).find((s) => s.until > t) ?? null;
  }

  /**
   * Ends of spans that have a later span after them (bookings as they stood at `view`): there Kisi's
   * one assignment must be moved on to the next span, by the product, when the earlier one ends.
   */
  rollovers(customer: number, room: number, view: number): number[] {
    return this.spans(customer, room, view)
      .slice(0, -1)
      .map((s) => s.until);
  }

  /** Every window edge the pair ever had (any version): instants near which a check is too close to call. */
  edges(customer: number, room: number): number[] {
    const out: number[] = [];
    for (const b of this.bookingsOf(customer)) {
      for (const v of this.versions.get(b) ?? []) {
        if (v.deleted || v.room !== room) continue;
        out.push(v.from - this.leadMs, v.to + this.lagMs);
      }
    }
    return out;
  }

  /** The pair's bookings and their versions, for a violation's report (times relative to `t0`, in s). */
  story(customer: number, room: number, t0: number): string[] {
    const rel = (ms: number) => ((ms - t0) / 1000).toFixed(1);
    return this.bookingsOf(customer)
      .filter((b) => (this.versions.get(b) ?? []).some((v) => v.room === room))
      .map((b) => `booking #${b}: ${(this.versions.get(b) ?? []).map((v) => (v.deleted ? `deleted at +${rel(v.appliedAt)}` : `at +${rel(v.appliedAt)} room ${v.room} window +${rel(v.from - this.leadMs)}..+${rel(v.to + this.lagMs)}`)).join('; ')}`);
  }

  /** The final version of every booking. */
  finals(): Array<{ booking: number; customer: number; version: Version }> {
    return [...this.versions].map(([booking, list]) => ({ booking, customer: this.customerOf.get(booking)!, version: list[list.length - 1]! }));
  }
}

/** One fault window of the drill, with how long the product may reasonably need after it ends. */
export interface DisruptionWindow {
  kind: string;
  from: number;
  until: number;
  recoveryMs: number;
}

/**
 * The latest moment by which Kisi must reflect something that happened at `at`: `settleMs` later,
 * pushed back past every disruption overlapping that interval (plus its recovery allowance).
 */
export function settleDeadline(at: number, settleMs: number, disruptions: DisruptionWindow[]): number {
  let deadline = at + settleMs;
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of disruptions) {
      // A disruption slows everything from its start until it has been recovered from.
      const overlaps = d.from <= deadline && d.until + d.recoveryMs >= at;
      const pushed = d.until + d.recoveryMs;
      if (overlaps && pushed > deadline) {
        deadline = pushed;
        changed = true;
      }
    }
  }
  return deadline;
}
