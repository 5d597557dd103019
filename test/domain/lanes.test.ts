/**
 * The lane of a change to an access window: live when it starts within the hour (or has begun, or
 * has no start), scheduled when it starts later. Pure, so workflow code may use it too.
 */
import { isLane, laneForWindow, laneRank, LANES, LIVE_HORIZON_MS } from '../../src/domain/lanes';

const now = Date.parse('2026-03-02T09:00:00Z');

describe('laneForWindow', () => {
  test('a window that has begun, or starts within the next hour, is live', () => {
    expect(laneForWindow('2026-03-01T09:00:00Z', now)).toBe('live');
    expect(laneForWindow('2026-03-02T09:00:00Z', now)).toBe('live');
    expect(laneForWindow('2026-03-02T09:15:00Z', now)).toBe('live');
    expect(laneForWindow('2026-03-02T10:00:00Z', now)).toBe('live'); // exactly an hour ahead
    expect(laneForWindow(now + LIVE_HORIZON_MS, now)).toBe('live');
  });

  test('a window starting later than an hour from now is scheduled', () => {
    expect(laneForWindow('2026-03-02T10:00:00.001Z', now)).toBe('scheduled');
    expect(laneForWindow(now + LIVE_HORIZON_MS + 1, now)).toBe('scheduled');
    expect(laneForWindow('2026-03-09T09:00:00+01:00', now)).toBe('scheduled');
  });

  test('a window without a start is open already: live', () => {
    expect(laneForWindow(null, now)).toBe('live');
    expect(laneForWindow(undefined, now)).toBe('live');
  });

  test('the same window moves from scheduled to live as its start comes near', () => {
    const from = '2026-03-02T12:00:00Z';
    expect(laneForWindow(from, Date.parse('2026-03-02T10:59:59Z'))).toBe('scheduled');
    expect(laneForWindow(from, Date.parse('2026-03-02T11:00:00Z'))).toBe('live');
  });

  test('refuses what is not a time, with the value in the message', () => {
    expect(() => laneForWindow('tomorrow', now)).toThrow(/"tomorrow"/);
    expect(() => laneForWindow(Number.NaN, now)).toThrow(RangeError);
    expect(() => laneForWindow('2026-03-02T12:00:00Z', Number.NaN)).toThrow(RangeError);
  });
});

test('the lane vocabulary: three lanes, live first', () => {
  expect(LANES).toEqual(['live', 'scheduled', 'background']);
  expect(LANES.map(laneRank)).toEqual([0, 1, 2]);
  expect(isLane('live')).toBe(true);
  expect(isLane('urgent')).toBe(false);
  expect(isLane(undefined)).toBe(false);
});
