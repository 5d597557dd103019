/**
 * Temporal's size limits on the texts an operator reads in the Web UI, and a cut that respects
 * them. Pure and deterministic (no Node built-ins): workflows use it for `setCurrentDetails` and
 * timer summaries, starters for `staticSummary`.
 *
 * The server refuses a summary whose serialized payload is over 400 bytes
 * (`limit.userMetadataSummarySize`) and details over 20,000 bytes (`limit.userMetadataDetailsSize`)
 * with INVALID_ARGUMENT, which no retry cures: a long customer name would block the grant. The
 * limit counts the payload as stored: the JSON text with its escapes, its metadata, and, with
 * payload encryption on, the cipher's envelope (about 130 bytes: nonce, tag, key id, encoding).
 * So the budgets below are on the JSON-encoded text and leave that envelope room.
 */

/** Server limit on a summary payload (bytes). */
export const TEMPORAL_SUMMARY_LIMIT_BYTES = 400;
/** Server limit on a details payload (bytes). */
export const TEMPORAL_DETAILS_LIMIT_BYTES = 20_000;
/** Room kept for payload metadata and the encryption envelope (measured: 161 bytes with the AES-GCM codec of src/temporal/payload-codec.ts, 29 without). */
export const PAYLOAD_ENVELOPE_BYTES = 192;

export const SUMMARY_TEXT_BUDGET = TEMPORAL_SUMMARY_LIMIT_BYTES - PAYLOAD_ENVELOPE_BYTES;
export const DETAILS_TEXT_BUDGET = TEMPORAL_DETAILS_LIMIT_BYTES - PAYLOAD_ENVELOPE_BYTES;

const ELLIPSIS = '…';

/** Bytes of the text as the JSON payload converter stores it (UTF-8 of JSON.stringify). */
export function jsonTextBytes(text: string): number {
  return utf8Length(JSON.stringify(text));
}

/**
 * The text, or its longest prefix (on a code point boundary, an ellipsis appended) whose JSON
 * encoding fits `budget` bytes. Texts that fit are returned unchanged.
 */
export function cutToBytes(text: string, budget: number): string {
  if (jsonTextBytes(text) <= budget) return text;
  const points = Array.from(text);
  // Binary search on the number of code points kept: the JSON size grows with the prefix.
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (jsonTextBytes(points.slice(0, mid).join('') + ELLIPSIS) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return points.slice(0, lo).join('') + ELLIPSIS;
}

/** A workflow's static summary or a timer's summary, cut to what Temporal accepts. */
export function fitSummary(text: string): string {
  return cutToBytes(text, SUMMARY_TEXT_BUDGET);
}

/** A workflow's static or current details, cut to what Temporal accepts. */
export function fitDetails(text: string): string {
  return cutToBytes(text, DETAILS_TEXT_BUDGET);
}

/** UTF-8 length without TextEncoder/Buffer (both are outside what workflow code may rely on here). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}
