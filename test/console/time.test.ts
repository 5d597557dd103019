/**
 * The console shows instants in the access map's time zone, named; around a DST change the same
 * wall-clock hour exists twice (autumn) or not at all (spring), and the zone's name tells them apart.
 */
import { clockIn, durationText, shortLocalTime } from '../../src/console/time';

test('Europe/London around the October change: 01:30 BST, then 01:30 GMT an hour later', () => {
  const clock = clockIn('Europe/London');
  expect(clock.format('2026-10-25T00:30:00Z')).toBe('25 Oct 2026, 01:30:00 BST');
  expect(clock.format('2026-10-25T01:30:00Z')).toBe('25 Oct 2026, 01:30:00 GMT');
  expect(shortLocalTime('2026-10-25T00:30:00Z', 'Europe/London')).toBe('Sun 25 Oct, 01:30 BST');
  expect(shortLocalTime('2026-10-25T01:30:00Z', 'Europe/London')).toBe('Sun 25 Oct, 01:30 GMT');
});

test('America/New_York across the March change: 01:59 is followed by 03:00, an hour closer to UTC', () => {
  const clock = clockIn('America/New_York');
  expect(clock.format('2026-03-08T06:59:00Z')).toBe('8 Mar 2026, 01:59:00 GMT-5');
  expect(clock.format('2026-03-08T07:00:00Z')).toBe('8 Mar 2026, 03:00:00 GMT-4');
  expect(shortLocalTime(null, 'America/New_York')).toBe('open');
});

test('durations read as people say them', () => {
  expect(durationText(42_000)).toBe('42 s');
  expect(durationText(5 * 60_000)).toBe('5 min');
  expect(durationText(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 5 min');
  expect(durationText(3 * 86_400_000)).toBe('3 days');
});
