/**
 * Payload encryption: what the product writes into Temporal (workflow inputs and results, signals,
 * queries, memos, summaries and details) is sealed with AES-256-GCM before it leaves the process,
 * so Temporal (a self-hosted database, Temporal Cloud) holds no customer name or email in clear.
 *
 * Keys come from TEMPORAL_PAYLOAD_KEY (comma-separated) or TEMPORAL_PAYLOAD_KEY_FILE (one per
 * line), each the base64 (or 64 hex digits) of 32 random bytes, newest first: payloads are
 * encrypted with the first and decrypted with whichever key sealed them (named by its id in the
 * payload's metadata), so a key can be rotated in by putting it first and retired once no running
 * workflow holds payloads sealed with it. A payload that is not encrypted (written before the key
 * was set) is read as it is.
 *
 * Every client and worker gets the codec through src/temporal/connection.ts; the ingress serves
 * it to the Web UI (`POST /codec/decode`).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { ConfigError, type Env } from '../config/env';
import { normalizeEmail } from '../domain/customer';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_FIELD = 'encryption-key-id';
const CIPHER_FIELD = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export interface PayloadKey {
  /** Names the key in each payload it sealed: the first 16 hex digits of its SHA-256 (reveals nothing usable). */
  id: string;
  key: Buffer;
}

/** The configured keys, newest (the one that encrypts) first. */
export class PayloadKeyRing {
  readonly keys: readonly PayloadKey[];
  private readonly byId: Map<string, PayloadKey>;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error('a payload key ring needs at least one key');
    this.keys = keys.map((key) => ({ id: keyId(key), key }));
    this.byId = new Map(this.keys.map((k) => [k.id, k]));
  }

  get newest(): PayloadKey {
    return this.keys[0]!;
  }

  find(id: string): PayloadKey | undefined {
    return this.byId.get(id);
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * Keys from their text: separated by commas or new lines, `#` starts a comment. Each is base64
 * (standard or url-safe) or hex of exactly 32 bytes. Errors name the position, never the value.
 */
export function parsePayloadKeys(text: string, source: string): Buffer[] {
  const entries = text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.length > 0);
  if (entries.length === 0) throw new ConfigError([`${source}: expected at least one key (base64 of 32 random bytes, e.g. openssl rand -base64 32)`]);
  const problems: string[] = [];
  const keys = entries.map((entry, i) => {
    const key = /^[0-9a-fA-F]{64}$/.test(entry) ? Buffer.from(entry, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(entry) ? Buffer.from(entry, 'base64') : undefined;
    if (!key || key.length !== 32) problems.push(`${source}: key ${i + 1} is not 32 bytes in base64 or hex (make one with: openssl rand -base64 32)`);
    return key ?? Buffer.alloc(0);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

export type PayloadKeyEnv = Pick<Env, 'TEMPORAL_PAYLOAD_KEY' | 'TEMPORAL_PAYLOAD_KEY_FILE'>;

/** The key ring the environment configures, or undefined (payloads then go to Temporal in clear). */
export function payloadKeyRingFromEnv(env: Partial<PayloadKeyEnv> | NodeJS.ProcessEnv): PayloadKeyRing | undefined {
  // Blank counts as unset, as everywhere in src/config/env.ts (process.env may be passed as it is).
  const inline = env.TEMPORAL_PAYLOAD_KEY?.trim() || undefined;
  const file = env.TEMPORAL_PAYLOAD_KEY_FILE?.trim() || undefined;
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError(['TEMPORAL_PAYLOAD_KEY and TEMPORAL_PAYLOAD_KEY_FILE: expected one of them, not both']);
  }
  if (inline !== undefined) return new PayloadKeyRing(parsePayloadKeys(inline, 'TEMPORAL_PAYLOAD_KEY'));
  if (file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError([`TEMPORAL_PAYLOAD_KEY_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
    return new PayloadKeyRing(parsePayloadKeys(text, 'TEMPORAL_PAYLOAD_KEY_FILE'));
  }
  return undefined;
}

/** A payload sealed with a key this process does not have (or tampered with). */
export class PayloadDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

/**
 * The codec: each payload (its whole protobuf, metadata included) sealed as one AES-256-GCM
 * message; the key id is bound as additional data, so a payload cannot be passed off as sealed
 * by another key.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(readonly ring: PayloadKeyRing) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.seal(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (isEncrypted(payload) ? this.open(payload) : payload));
  }

  seal(payload: Payload): Payload {
    const { id, key } = this.ring.newest;
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8.encode(ENCRYPTED_ENCODING), [KEY_ID_FIELD]: utf8.encode(id), [CIPHER_FIELD]: utf8.encode(CIPHER) },
      data: new Uint8Array(sealed),
    };
  }

  open(payload: Payload): Payload {
    const id = payload.metadata?.[KEY_ID_FIELD] ? fromUtf8.decode(payload.metadata[KEY_ID_FIELD]) : '';
    const named = this.ring.find(id);
    // The named key first; the others too, should an id ever be missing or mangled.
    const candidates = named ? [named, ...this.ring.keys.filter((k) => k !== named)] : this.ring.keys;
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < NONCE_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload too short');
    for (const candidate of candidates) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', candidate.key, data.subarray(0, NONCE_BYTES));
        decipher.setAAD(Buffer.from(id, 'utf8'));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain);
      } catch {
        // Not this key: try the next.
      }
    }
    throw new PayloadDecryptionError(`payload encrypted with key ${id || '(unnamed)'}, which is not among the ${this.ring.keys.length} configured (TEMPORAL_PAYLOAD_KEY)`);
  }
}

/** The payload keys a client encrypts with (undefined: it writes payloads in clear). */
export function payloadKeysOf(client: Client): PayloadKeyRing | undefined {
  const codec = client.options.loadedDataConverter.payloadCodecs.find((c) => c instanceof AesGcmPayloadCodec);
  return codec instanceof AesGcmPayloadCodec ? codec.ring : undefined;
}

export function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.encoding;
  return encoding !== undefined && encoding !== null && fromUtf8.decode(encoding) === ENCRYPTED_ENCODING;
}

// -------------------------------------------------------------------------------------------------
// The searchable email

/**
 * The value the `CustomerEmail` search attribute holds for an email, computed in this one place
 * (starters, the grant activity that starts memberships, check-ins, the grants CLI and reconcile
 * all call it). Without payload keys: the normalized email. With keys: a keyed hash of it
 * (`hmac:<64 hex>`, HMAC-SHA256 under a key derived from the newest payload key), because search
 * attributes cannot be encrypted (the server indexes them) and the email is personal data.
 */
export function searchableEmail(ring: PayloadKeyRing | undefined, email: string): string;
export function searchableEmail(ring: PayloadKeyRing | undefined, email: string | null): string | null;
export function searchableEmail(ring: PayloadKeyRing | undefined, email: string | null): string | null {
  if (email === null) return null;
  const normalized = normalizeEmail(email);
  if (!normalized) return null;
  return ring ? hashEmail(ring.newest, normalized) : normalized;
}

/**
 * Every value an email may be stored under in `CustomerEmail`: its hash under each configured key
 * (a rotation leaves older grants with the previous key's hash), then the plain email (grants from
 * before the key was set). Ask Temporal only for the hashes: see searchableEmailQueryValues.
 */
export function searchableEmailCandidates(ring: PayloadKeyRing | undefined, email: string): string[] {
  const normalized = normalizeEmail(email);
  if (!normalized) return [];
  return ring ? [...ring.keys.map((key) => hashEmail(key, normalized)), normalized] : [normalized];
}

/** What a visibility query may contain: the hashes only when keys are set (a query is not encrypted). */
export function searchableEmailQueryValues(ring: PayloadKeyRing | undefined, email: string): string[] {
  const candidates = searchableEmailCandidates(ring, email);
  return ring ? candidates.slice(0, ring.keys.length) : candidates;
}

/** True when the attribute value is a hash (not an email an operator or Kisi can use). */
export function isHashedEmail(value: string): boolean {
  return value.startsWith('hmac:');
}

const hashKeys = new WeakMap<PayloadKey, Buffer>();

function hashEmail(payloadKey: PayloadKey, normalized: string): string {
  let key = hashKeys.get(payloadKey);
  if (!key) {
    // A key of its own (HKDF), so the hash reveals nothing about the encryption key.
    key = Buffer.from(hkdfSync('sha256', payloadKey.key, Buffer.alloc(0), 'nexudus-kisi-access CustomerEmail', 32));
    hashKeys.set(payloadKey, key);
  }
  return `hmac:${createHmac('sha256', key).update(normalized, 'utf8').digest('hex')}`;
}
