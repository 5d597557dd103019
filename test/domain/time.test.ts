import {
  endOfLocalDay,
  parseLocalInstant,
  parseUtcInstant,
  resolveNexudusInstant,
  zoneOffsetAt,
} from '../../src/domain/time';

const utc = (s: string) => Date.parse(s);

describe('parseUtcInstant', () => {
  test('reads Z, offsets, no designator (UTC) and .NET seven-digit fractions', () => {
    expect(parseUtcInstant('2026-11-28T10:00:00Z')).toBe(utc('2026-11-28T10:00:00Z'));
    expect(parseUtcInstant('2026-11-28T10:00:00+01:00')).toBe(utc('2026-11-28T09:00:00Z'));
    expect(parseUtcInstant('2026-11-28T10:00:00')).toBe(utc('2026-11-28T10:00:00Z'));
    expect(parseUtcInstant('2026-11-28T10:00:00.1234567Z')).toBe(utc('2026-11-28T10:00:00.123Z'));
    expect(parseUtcInstant('2026-11-28')).toBe(utc('2026-11-28T00:00:00Z'));
  });
  test('rejects garbage with the text in the message', () => {
    expect(() => parseUtcInstant('tomorrow')).toThrow(/"tomorrow"/);
    expect(() => parseUtcInstant('2026-13-01T00:00:00Z')).toThrow();
  });
});

describe('parseLocalInstant', () => {
  test('converts London wall clock in winter and summer', () => {
    expect(parseLocalInstant('2026-01-15T10:00:00', 'Europe/London')).toBe(utc('2026-01-15T10:00:00Z'));
    expect(parseLocalInstant('2026-07-15T10:00:00', 'Europe/London')).toBe(utc('2026-07-15T09:00:00Z'));
  });
  test('ignores a fake Z on local time', () => {
    expect(parseLocalInstant('2026-07-15T10:00:00Z', 'Europe/London')).toBe(utc('2026-07-15T09:00:00Z'));
  });
  test('DST gap moves forward; repeated hour takes the first occurrence', () => {
    // Europe/London springs forward 2026-03-29 01:00 -> 02:00; falls back 2026-10-25 02:00 -> 01:00.
    expect(parseLocalInstant('2026-03-29T01:30:00', 'Europe/London')).toBe(utc('2026-03-29T01:30:00Z'));
    expect(parseLocalInstant('2026-10-25T01:30:00', 'Europe/London')).toBe(utc('2026-10-25T00:30:00Z'));
    // New York: 2026-03-08 02:30 does not exist -> 03:30 EDT = 07:30Z
    expect(parseLocalInstant('2026-03-08T02:30:00', 'America/New_York')).toBe(utc('2026-03-08T07:30:00Z'));
  });
});

describe('endOfLocalDay', () => {
  test('is the next local midnight, also on days of 23 and 25 hours', () => {
    expect(endOfLocalDay(utc('2026-07-15T12:00:00Z'), 'Europe/London')).toBe(utc('2026-07-15T23:00:00Z'));
    // 2026-03-29 London is 23 hours long: midnight after it is 23:00Z
    expect(endOfLocalDay(utc('2026-03-29T10:00:00Z'), 'Europe/London')).toBe(utc('2026-03-29T23:00:00Z'));
    // 2026-10-25 London is 25 hours long: the day started 2026-10-24T23:00Z and ends 2026-10-26T00:00Z
    expect(endOfLocalDay(utc('2026-10-25T10:00:00Z'), 'Europe/London')).toBe(utc('2026-10-26T00:00:00Z'));
    // An instant just after local midnight belongs to the new day
    expect(endOfLocalDay(utc('2026-07-15T23:00:01Z'), 'Europe/London')).toBe(utc('2026-07-16T23:00:00Z'));
    expect(endOfLocalDay(utc('2026-07-15T12:00:00Z'), 'Asia/Kolkata')).toBe(utc('2026-07-15T18:30:00Z'));
  });
  test('offsets', () => {
    expect(zoneOffsetAt(utc('2026-07-15T12:00:00Z'), 'Europe/London')).toBe(3_600_000);
    expect(zoneOffsetAt(utc('2026-01-15T12:00:00Z'), 'Europe/London')).toBe(0);
  });
});

describe('resolveNexudusInstant: FromTime (UTC) is authoritative', () => {
  test('genuine pair: UTC wins', () => {
    expect(resolveNexudusInstant('2026-07-15T09:00:00Z', '2026-07-15T10:00:00', 'Europe/London')).toBe(utc('2026-07-15T09:00:00Z'));
  });
  test('the other reading: local time with a fake Z in FromTime is detected and read in the zone', () => {
    expect(resolveNexudusInstant('2026-07-15T10:00:00Z', '2026-07-15T10:00:00', 'Europe/London')).toBe(utc('2026-07-15T09:00:00Z'));
  });
  test('same text in a zone at UTC offset 0 is simply UTC', () => {
    expect(resolveNexudusInstant('2026-01-15T10:00:00Z', '2026-01-15T10:00:00', 'Europe/London')).toBe(utc('2026-01-15T10:00:00Z'));
  });
  test('only the local field: read in the zone', () => {
    expect(resolveNexudusInstant(null, '2026-07-15T10:00:00', 'Europe/London')).toBe(utc('2026-07-15T09:00:00Z'));
  });
  test('neither: a clear error', () => {
    expect(() => resolveNexudusInstant(null, null, 'Europe/London')).toThrow(/both readings are empty/);
  });
});
