/**
 * Access-map changes without a restart: the worker and the ingress read the map through an
 * AccessMapSource, which re-reads the file on SIGHUP. A valid
 * new map reaches a running grant at its next refresh (here an operator's retry); a map that does
 * not validate is refused, logged, and the one in force stays.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessMapSource } from '../../src/config/access-map-source';
import { retrySignal } from '../../src/contract/grant';
import { grantWorkflowId } from '../../src/domain/ids';
import { ADA, DEFAULT_MAP, GROUP_MEMBERS, GROUP_ROOM_THAMES, GrantHarness, HOUR, ROOM_THAMES, iso } from '../helpers/grant-harness';

jest.setTimeout(120_000);

let h: GrantHarness;
let dir: string;
let source: AccessMapSource | undefined;
const logged: Array<{ level: 'info' | 'error'; msg: string }> = [];
const logger = {
  info: (_: object, msg: string) => void logged.push({ level: 'info', msg }),
  error: (_: object, msg: string) => void logged.push({ level: 'error', msg }),
};

beforeAll(async () => {
  h = await GrantHarness.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'map-reload-'));
});
afterAll(async () => {
  source?.close();
  await h?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

/**
 * Delivers SIGHUP to the source's handler. Emitted, not sent with kill(): jest gives each test file
 * its own `process` object, so a real signal would reach the runner, not the listener.
 */
async function sighup(): Promise<void> {
  const before = logged.length;
  process.emit('SIGHUP', 'SIGHUP');
  await h.until(() => logged.length > before, 'the reload to be logged', 5_000);
}

test('SIGHUP brings a changed map to a running grant on retry; a bad map is refused and the old one stays', async () => {
  const file = path.join(dir, 'access-map.json');
  fs.writeFileSync(file, JSON.stringify(DEFAULT_MAP));
  source = new AccessMapSource(file, logger).reloadOnSighup();
  h.mapSource = source.get;

  const start = Math.ceil(((await h.now()) + HOUR) / 60_000) * 60_000; // Kisi keeps whole seconds
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: ADA.customerId, FromTime: iso(start), ToTime: iso(start + 2 * HOUR) }) as { Id: number };
  await h.deliver(await h.bookingSpec({ Id: booking.Id, FromTime: iso(start), ToTime: iso(start + 2 * HOUR) }));
  await h.waitForState('booking', booking.Id, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toHaveLength(1);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toHaveLength(0);

  // The room now also opens the members' door.
  const wider = { ...DEFAULT_MAP, resources: { ...DEFAULT_MAP.resources, [ROOM_THAMES]: { groups: [GROUP_ROOM_THAMES, GROUP_MEMBERS] } } };
  fs.writeFileSync(file, JSON.stringify(wider));
  await sighup();
  expect(logged.at(-1)).toEqual({ level: 'info', msg: 'access map reloaded' });
  expect([...(source.get().forBooking(ROOM_THAMES)?.groups ?? [])].sort()).toEqual([GROUP_MEMBERS, GROUP_ROOM_THAMES].sort());

  // A running grant picks it up at its next refresh: an operator's retry re-reads the record.
  await h.client.workflow.getHandle(grantWorkflowId('booking', booking.Id)).signal(retrySignal);
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS).length === 1, 'the new group granted');
  const [members] = h.assignments(ADA.email, GROUP_MEMBERS);
  expect(members).toMatchObject({ valid_from: iso(start - 15 * 60_000), valid_until: iso(start + 2 * HOUR + 15 * 60_000) });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toHaveLength(1);

  // A map that does not validate is refused: the one in force stays, the error is logged.
  fs.writeFileSync(file, JSON.stringify({ ...wider, timeZone: 'Mars/Olympus_Mons' }));
  await sighup();
  expect(logged.at(-1)?.level).toBe('error');
  expect(logged.at(-1)?.msg).toMatch(/^access map not reloaded, the previous one stays in force: /);
  expect([...(source.get().forBooking(ROOM_THAMES)?.groups ?? [])].sort()).toEqual([GROUP_MEMBERS, GROUP_ROOM_THAMES].sort());
  expect(source.get().timeZone).toBe('Europe/London');
});
