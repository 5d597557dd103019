/**
 * The payload codec and the searchable email: sealing, rotation (encrypt with the newest key,
 * decrypt with any), refusal of unknown keys and tampering, payloads from before encryption, and
 * the CustomerEmail value with and without keys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { ConfigError, parseEnv } from '../../src/config/env';
import {
  AesGcmPayloadCodec,
  isEncrypted,
  PayloadDecryptionError,
  PayloadKeyRing,
  payloadKeyRingFromEnv,
  searchableEmail,
  searchableEmailCandidates,
  searchableEmailQueryValues,
} from '../../src/temporal/payload-codec';

const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const b64 = (key: Buffer) => key.toString('base64');

const input = { spec: { customerName: 'Ada Lovelace', customerEmail: 'ada@example.com' } };

test('a sealed payload holds nothing of the value in clear and opens to the same value', async () => {
  const codec = new AesGcmPayloadCodec(new PayloadKeyRing([KEY_A]));
  const payload = defaultPayloadConverter.toPayload(input);
  const [sealed] = await codec.encode([payload]);
  expect(isEncrypted(sealed!)).toBe(true);
  const bytes = Buffer.from(sealed!.data!).toString('latin1') + JSON.stringify(Object.fromEntries(Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('latin1')])));
  expect(bytes).not.toMatch(/Ada|ada@example|json\/plain/);
  const [opened] = await codec.decode([sealed!]);
  expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(input);
  // A fresh nonce each time: the same value never seals to the same bytes.
  const [again] = await codec.encode([payload]);
  expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false);
});

test('rotation: the newest key encrypts, an older one still decrypts; a retired key is named, not guessed', async () => {
  const old = new AesGcmPayloadCodec(new PayloadKeyRing([KEY_A]));
  const rotated = new AesGcmPayloadCodec(new PayloadKeyRing([KEY_B, KEY_A]));
  const [byOld] = await old.encode([defaultPayloadConverter.toPayload(input)]);
  const [byNew] = await rotated.encode([defaultPayloadConverter.toPayload(input)]);
  expect(Buffer.from(byNew!.metadata!['encryption-key-id']!).toString()).toBe(rotated.ring.keys[0]!.id);
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([byOld!]))[0]!)).toEqual(input);
  expect(defaultPayloadConverter.fromPayload((await rotated.decode([byNew!]))[0]!)).toEqual(input);
  await expect(old.decode([byNew!])).rejects.toThrow(PayloadDecryptionError);
  await expect(old.decode([byNew!])).rejects.toThrow(new RegExp(`key ${rotated.ring.keys[0]!.id}`));
});

test('a tampered payload is refused; a payload written before encryption is read as it is', async () => {
  const codec = new AesGcmPayloadCodec(new PayloadKeyRing([KEY_A]));
  const [sealed] = await codec.encode([defaultPayloadConverter.toPayload(input)]);
  const data = Buffer.from(sealed!.data!);
  data[20] ^= 1;
  await expect(codec.decode([{ ...sealed!, data }])).rejects.toThrow(PayloadDecryptionError);
  const plain = defaultPayloadConverter.toPayload(input);
  expect(await codec.decode([plain])).toEqual([plain]);
});

test('keys from the environment or a file: base64 or hex, newest first; bad ones named without their value', () => {
  const ring = payloadKeyRingFromEnv(parseEnv({ TEMPORAL_PAYLOAD_KEY: `${b64(KEY_B)}, ${KEY_A.toString('hex')}` }))!;
  expect(ring.keys.map((k) => k.key)).toEqual([KEY_B, KEY_A]);
  expect(payloadKeyRingFromEnv(parseEnv({}))).toBeUndefined();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keys-'));
  const file = path.join(dir, 'keys');
  fs.writeFileSync(file, `# rotated in 2026-11\n${b64(KEY_B)}\n\n${b64(KEY_A)}  # retire after 2027-01\n`);
  expect(payloadKeyRingFromEnv(parseEnv({ TEMPORAL_PAYLOAD_KEY_FILE: file }))!.keys.map((k) => k.key)).toEqual([KEY_B, KEY_A]);
  fs.rmSync(dir, { recursive: true, force: true });

  const short = 'c2hvcnQta2V5';
  expect(() => payloadKeyRingFromEnv({ TEMPORAL_PAYLOAD_KEY: `${b64(KEY_A)},${short}` })).toThrow(ConfigError);
  try {
    payloadKeyRingFromEnv({ TEMPORAL_PAYLOAD_KEY: `${b64(KEY_A)},${short}` });
  } catch (error) {
    expect((error as ConfigError).message).toMatch(/key 2 is not 32 bytes/);
    expect((error as ConfigError).message).not.toContain(short);
  }
  expect(() => payloadKeyRingFromEnv({ TEMPORAL_PAYLOAD_KEY_FILE: '/nonexistent/keys' })).toThrow(/cannot read \/nonexistent\/keys \(ENOENT\)/);
  expect(() => parseEnv({ TEMPORAL_PAYLOAD_KEY: b64(KEY_A), TEMPORAL_PAYLOAD_KEY_FILE: '/x' })).toThrow(/not both/);
});

test('the searchable email: normalized without keys, a keyed hash with them; rotation keeps old hashes findable', () => {
  expect(searchableEmail(undefined, ' Ada@Example.COM ')).toBe('ada@example.com');
  expect(searchableEmail(undefined, null)).toBeNull();
  const a = new PayloadKeyRing([KEY_A]);
  const ba = new PayloadKeyRing([KEY_B, KEY_A]);
  const hashed = searchableEmail(a, 'Ada@example.com');
  expect(hashed).toMatch(/^hmac:[0-9a-f]{64}$/);
  expect(searchableEmail(a, ' ada@EXAMPLE.com')).toBe(hashed);
  expect(searchableEmail(ba, 'ada@example.com')).not.toBe(hashed);
  expect(searchableEmail(a, 'grace@example.com')).not.toBe(hashed);
  // Candidates: every key's hash, then the plain email; a query names the hashes only.
  expect(searchableEmailCandidates(ba, 'ada@example.com')).toEqual([searchableEmail(ba, 'ada@example.com'), hashed, 'ada@example.com']);
  expect(searchableEmailQueryValues(ba, 'ada@example.com')).toEqual([searchableEmail(ba, 'ada@example.com'), hashed]);
  expect(searchableEmailQueryValues(undefined, 'Ada@example.com')).toEqual(['ada@example.com']);
});
