/**
 * Temporal's size limits on what operators read in the Web UI (user metadata), applied before a
 * text is sent: an oversized summary is refused by the server as an invalid argument, which would
 * fail a start or a workflow task for good (a long customer name is enough). Pure and
 * workflow-safe. Limits are the server's defaults (frontend dynamic config
 * `limit.userMetadataSummarySize` 400 bytes, `limit.userMetadataDetailsSize` 20,000 bytes).
 */
export const SUMMARY_MAX_BYTES = 400;
export const DETAILS_MAX_BYTES = 20_000;

const encoder = new TextEncoder();

/** Cuts `text` to at most `maxBytes` UTF-8 bytes, on a character boundary, marking the cut with an ellipsis. */
export function fitUtf8(text: string, maxBytes: number): string {
  if (encoder.encode(text).length <= maxBytes) return text;
  const ellipsis = '…';
  const budget = maxBytes - encoder.encode(ellipsis).length;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const size = encoder.encode(ch).length;
    if (used + size > budget) break;
    out += ch;
    used += size;
  }
  return out + ellipsis;
}

export const fitSummary = (text: string): string => fitUtf8(text, SUMMARY_MAX_BYTES);
export const fitDetails = (text: string): string => fitUtf8(text, DETAILS_MAX_BYTES);
