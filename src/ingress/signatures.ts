/**
 * Webhook signatures: HMAC-SHA256 of the raw body bytes, as hex, compared in constant time.
 *
 * Nexudus (`X-Nexudus-Hook-Signature`): its published sample prints upper-case hex and encodes
 * key and body with .NET's ASCIIEncoding, which turns every non-ASCII character into '?'. Whether
 * the live service signs those substitutes or the UTF-8 bytes it sends is UNVERIFIED, so both are
 * accepted: the MAC over the bytes received, and the MAC over the ASCII substitute.
 *
 * Kisi (`X-Signature`): its docs show `sha256=<hex>`, community code compares the bare hex digest:
 * both forms are accepted.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEX_DIGEST = /^[0-9a-f]{64}$/i;

/** The 32 bytes a header names, or undefined when it is not one hex SHA-256 digest (optionally `sha256=`). */
export function parseSignatureHeader(header: string | undefined): Buffer | undefined {
  if (header === undefined) return undefined;
  let value = header.trim();
  if (/^sha256=/i.test(value)) value = value.slice('sha256='.length).trim();
  if (!HEX_DIGEST.test(value)) return undefined;
  return Buffer.from(value, 'hex');
}

function hmac(key: Buffer | string, body: Buffer | string): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/**
 * .NET ASCIIEncoding of a text: each character outside ASCII becomes one '?' (a surrogate pair is
 * one character to its replacement fallback, so one '?' per code point).
 */
export function asciiSubstitute(text: string): Buffer {
  return Buffer.from(text.replace(/[^\p{ASCII}]/gu, '?'), 'latin1');
}

function hasNonAscii(bytes: Buffer): boolean {
  for (const b of bytes) if (b > 0x7f) return true;
  return false;
}

/** Compares every candidate (no early exit between them), each in constant time. */
function matchesAny(given: Buffer, candidates: Buffer[]): boolean {
  let ok = false;
  for (const candidate of candidates) {
    if (candidate.length === given.length && timingSafeEqual(candidate, given)) ok = true;
  }
  return ok;
}

export type SignatureCheck = { ok: true; encoding: 'utf8' | 'ascii' | 'unsigned' } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' };

/**
 * Checks a Nexudus webhook. `secret` undefined means verification is off (development only; the
 * entry point refuses to start without one elsewhere).
 */
export function verifyNexudusSignature(rawBody: Buffer, header: string | undefined, secret: string | undefined): SignatureCheck {
  if (secret === undefined) return { ok: true, encoding: 'unsigned' };
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
  const given = parseSignatureHeader(header);
  if (!given) return { ok: false, reason: 'malformed' };
  if (matchesAny(given, [hmac(Buffer.from(secret, 'utf8'), rawBody)])) return { ok: true, encoding: 'utf8' };
  // Only a body or key with non-ASCII characters has a different ASCII substitute.
  const secretBytes = Buffer.from(secret, 'utf8');
  if (hasNonAscii(rawBody) || hasNonAscii(secretBytes)) {
    const ascii = hmac(asciiSubstitute(secret), asciiSubstitute(rawBody.toString('utf8')));
    if (matchesAny(given, [ascii])) return { ok: true, encoding: 'ascii' };
  }
  return { ok: false, reason: 'mismatch' };
}

/** Checks a Kisi event webhook (`sha256=<hex>` or bare hex of the HMAC of the raw body). */
export function verifyKisiSignature(rawBody: Buffer, header: string | undefined, secret: string | undefined): SignatureCheck {
  if (secret === undefined) return { ok: true, encoding: 'unsigned' };
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
  const given = parseSignatureHeader(header);
  if (!given) return { ok: false, reason: 'malformed' };
  return matchesAny(given, [hmac(Buffer.from(secret, 'utf8'), rawBody)]) ? { ok: true, encoding: 'utf8' } : { ok: false, reason: 'mismatch' };
}
