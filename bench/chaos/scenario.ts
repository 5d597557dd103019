/**
 * The fault drill's script, drawn from a seed: which customer books which room when, what changes
 * later (moves, longer or shorter, another room, deletions), and when the faults strike. Pure: the
 * same seed and parameters give the same scenario, so a failing run can be repeated exactly.
 */
import { seededRandom } from '../../dev/lib/seeded-random';

export interface ScenarioOptions {
  seed: number;
  grants: number;
  customers: number;
  rooms: number;
  leadMs: number;
  lagMs: number;
  /** Bookings are created over this many seconds from the start of the drill. */
  bookingPhaseSeconds: number;
}

export const DEFAULT_SCENARIO: ScenarioOptions = { seed: 20261128, grants: 200, customers: 50, rooms: 2, leadMs: 3_000, lagMs: 3_000, bookingPhaseSeconds: 120 };

export type ChangeKind = 'move' | 'extend' | 'shorten' | 'room' | 'delete';

/** One planned step in a booking's life, at `at` ms after the drill starts. */
export type Step =
  | { at: number; booking: number; kind: 'create'; room: number; from: number; to: number }
  | { at: number; booking: number; kind: Exclude<ChangeKind, 'delete'>; room: number; from: number; to: number }
  | { at: number; booking: number; kind: 'delete' };

export interface PlannedBooking {
  index: number;
  customer: number;
}

/** A disruption of the drill's infrastructure, ms after the drill starts. */
export type Disruption =
  | { at: number; kind: 'kisi-faults-on' }
  | { at: number; kind: 'kisi-faults-off' }
  | { at: number; kind: 'kill-worker' }
  | { at: number; kind: 'restart-temporal' }
  | { at: number; kind: 'partition'; durationMs: number };

export interface Scenario {
  options: ScenarioOptions;
  bookings: PlannedBooking[];
  /** Sorted by time. Booking times (from/to) are relative to the drill start too. */
  steps: Step[];
  disruptions: Disruption[];
  /** When the last window (with lag) closes, relative to the drill start. */
  lastEnd: number;
}

const S = 1_000;
/** Changes of one booking stay this far apart: Nexudus' UpdatedOn has whole seconds, and the newer edit must carry the newer version. */
const MIN_EDIT_GAP = 2 * S;

export function buildScenario(options: ScenarioOptions): Scenario {
  const random = seededRandom(options.seed);
  const uniform = (min: number, max: number) => min + random() * (max - min);
  const int = (n: number) => Math.floor(random() * n);
  const phase = options.bookingPhaseSeconds * S;
  const bookings: PlannedBooking[] = [];
  const steps: Step[] = [];
  let lastEnd = 0;

  for (let index = 0; index < options.grants; index++) {
    const customer = int(options.customers);
    bookings.push({ index, customer });
    const createdAt = Math.round((index / options.grants) * phase + uniform(0, 0.5 * S));
    // Windows open 35-75 s after the booking is made: long enough for the Kisi write to land first
    // even under the drill's faults, short enough to keep the drill within minutes.
    let from = Math.ceil((createdAt + uniform(35, 75) * S) / S) * S;
    let to = from + Math.round(uniform(5, 20)) * S;
    let room = int(options.rooms);
    steps.push({ at: createdAt, booking: index, kind: 'create', room, from, to });
    let last = createdAt;
    let deleted = false;
    // About a third of the bookings change once, some twice.
    const changes = random() < 0.3 ? (random() < 0.25 ? 2 : 1) : 0;
    for (let c = 0; c < changes && !deleted; c++) {
      const earliest = last + MIN_EDIT_GAP;
      const latest = to + options.lagMs - 2 * S;
      if (earliest >= latest) break;
      const at = Math.round(uniform(earliest, latest));
      const roll = random();
      const kind: ChangeKind = roll < 0.3 ? 'move' : roll < 0.45 ? 'extend' : roll < 0.6 ? 'shorten' : roll < 0.75 ? 'room' : 'delete';
      if (kind === 'delete') {
        steps.push({ at, booking: index, kind });
        deleted = true;
      } else {
        if (kind === 'move') {
          const shift = Math.round(uniform(5, 20)) * S * (random() < 0.5 ? -1 : 1);
          from += shift;
          to += shift;
        } else if (kind === 'extend') {
          to += Math.round(uniform(3, 15)) * S;
        } else if (kind === 'shorten') {
          to = Math.max(from + 2 * S, to - Math.round(uniform(3, 15)) * S);
        } else {
          room = (room + 1 + int(options.rooms - 1)) % options.rooms;
        }
        steps.push({ at, booking: index, kind, room, from, to });
      }
      last = at;
    }
    lastEnd = Math.max(lastEnd, to + options.lagMs);
  }
  steps.sort((a, b) => a.at - b.at || a.booking - b.booking);

  // The faults, spread over the booking phase so that each hits bookings being made, changed,
  // opened and closed (times scale with the phase; defaults for 120 s shown in comments).
  const p = (fraction: number) => Math.round(fraction * phase);
  const disruptions: Disruption[] = [
    { at: p(10 / 120), kind: 'kisi-faults-on' }, //      10 s
    { at: p(35 / 120), kind: 'kill-worker' }, //         35 s
    { at: p(65 / 120), kind: 'restart-temporal' }, //    65 s
    { at: p(95 / 120), kind: 'kill-worker' }, //         95 s
    { at: p(110 / 120), kind: 'partition', durationMs: 20 * S }, // 110-130 s, webhooks keep coming
    { at: p(130 / 120), kind: 'kisi-faults-off' }, //   130 s
  ];
  return { options, bookings, steps, disruptions, lastEnd };
}
