/**
 * Summaries and details cut to Temporal's limits: by the bytes of their JSON encoding, on code
 * point boundaries, unchanged when they fit.
 */
import { cutToBytes, DETAILS_TEXT_BUDGET, fitDetails, fitSummary, jsonTextBytes, SUMMARY_TEXT_BUDGET } from '../../src/domain/temporal-limits';

test('a text that fits is returned unchanged', () => {
  const text = 'Booking 7000001: Meeting Room Thames for Ada Lovelace, access Tue 1 Dec, 09:45 → Tue 1 Dec, 11:15 (Europe/London)';
  expect(fitSummary(text)).toBe(text);
  expect(fitDetails(text)).toBe(text);
});

test.each([
  ['ASCII', 'x'.repeat(5000)],
  ['multi-byte', 'Zoë Ångström 東京 '.repeat(300)],
  ['emoji (surrogate pairs)', '🚪🔑'.repeat(400)],
  ['quotes and control characters (JSON escapes)', '"\\\n\u0001'.repeat(500)],
])('%s: cut to the budget, ends with an ellipsis, no broken code point', (_name, text) => {
  const summary = fitSummary(text);
  expect(jsonTextBytes(summary)).toBeLessThanOrEqual(SUMMARY_TEXT_BUDGET);
  expect(jsonTextBytes(summary)).toBeGreaterThan(SUMMARY_TEXT_BUDGET - 8);
  expect(summary.endsWith('…')).toBe(true);
  expect(text.startsWith(summary.slice(0, -1))).toBe(true);
  expect(summary).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  const details = fitDetails(text.repeat(10));
  expect(jsonTextBytes(details)).toBeLessThanOrEqual(DETAILS_TEXT_BUDGET);
});

test('cutToBytes with a tiny budget keeps what fits', () => {
  expect(cutToBytes('abcdef', 6)).toBe('a…');
  expect(cutToBytes('abcdef', 8)).toBe('abcdef');
});
