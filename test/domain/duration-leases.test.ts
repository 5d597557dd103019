import { formatDuration, parseDuration } from '../../src/domain/duration';
import { liveSpans, sameEffect, spansOf } from '../../src/domain/leases';

describe('durations', () => {
  test.each([
    ['15m', 900_000],
    ['90s', 90_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['500ms', 500],
    ['0', 0],
    ['1.5s', 1500],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  test.each(['', '15', 'm', '15 minutes', '-5m', '1h 30m'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
  test('formats', () => expect(formatDuration(5_400_000)).toBe('1h30m'));
});

const H = 3_600_000;
describe('lease spans', () => {
  test('touching and overlapping leases merge; separate ones stay apart, in order', () => {
    const spans = spansOf({
      c: { window: { from: 14 * H, until: 15 * H } },
      a: { window: { from: 9 * H, until: 11 * H } },
      b: { window: { from: 11 * H, until: 12 * H } },
    });
    expect(spans).toEqual([
      { from: 9 * H, until: 12 * H, leaseIds: ['a', 'b'] },
      { from: 14 * H, until: 15 * H, leaseIds: ['c'] },
    ]);
  });
  test('open bounds', () => {
    const spans = spansOf({ pass: { window: { from: null, until: null } }, booking: { window: { from: 9 * H, until: 10 * H } } });
    expect(spans).toEqual([{ from: null, until: null, leaseIds: ['pass', 'booking'] }]);
  });
  test('empty windows are ignored', () => {
    expect(spansOf({ x: { window: { from: 10 * H, until: 10 * H } } })).toEqual([]);
  });
  test('live spans skip ended ones, earliest first', () => {
    const leases = { a: { window: { from: 1 * H, until: 2 * H } }, b: { window: { from: 3 * H, until: 4 * H } }, c: { window: { from: 5 * H, until: 6 * H } } };
    expect(liveSpans(leases, 2.5 * H).map((s) => s.leaseIds)).toEqual([['b'], ['c']]);
    expect(liveSpans(leases, 6 * H)).toEqual([]);
  });
  test('sameEffect: a start already passed on both sides needs no Kisi change', () => {
    expect(sameEffect({ from: 1 * H, until: 5 * H }, { from: 2 * H, until: 5 * H }, 3 * H)).toBe(true);
    expect(sameEffect({ from: 1 * H, until: 5 * H }, { from: 4 * H, until: 5 * H }, 3 * H)).toBe(false);
    expect(sameEffect({ from: 1 * H, until: 5 * H }, { from: 1 * H, until: 6 * H }, 3 * H)).toBe(false);
    expect(sameEffect(null, null, 0)).toBe(true);
    expect(sameEffect(null, { from: 1, until: 2 }, 0)).toBe(false);
  });
});
