/**
 * Who a customer is in Kisi: customer records and Kisi user ids are shared by a customer's grants
 * that start together and kept for a TTL; a new person's user is created in one call, and an
 * existing one is found after Kisi says the email is taken.
 */
import { withCallContext } from '../../src/clients/call-context';
import { ApiError } from '../../src/clients/errors';
import { CustomerDirectory, KisiUsers, type KisiUserDeps } from '../../activities/kisi-users';
import type { NexudusCoworker } from '../../src/domain/nexudus-entities';

const taken = () => new ApiError({ service: 'kisi', method: 'POST', path: '/users', status: 422, fieldErrors: { email: ['has already been taken'] }, message: 'kisi POST /users: HTTP 422' });
const notFound = () => new ApiError({ service: 'nexudus', method: 'GET', path: '/spaces/coworkers/7', status: 404, message: 'nexudus GET: HTTP 404' });

function world(initial: Partial<NexudusCoworker> = {}) {
  const coworker = { Id: 7, FullName: 'Ada Lovelace', Email: 'ada@example.com', Active: true, UpdatedOn: '2026-12-01T10:00:00Z', ...initial } as NexudusCoworker;
  const kisiUsers = new Map<string, number>([['existing@example.com', 501]]);
  const calls = { getCoworker: 0, findUserByEmail: [] as string[], createUser: [] as string[] };
  let gone = false;
  const deps: KisiUserDeps = {
    sendEmails: false,
    cacheTtlMs: 60_000,
    nexudus: {
      getCoworker: async (id) => {
        calls.getCoworker++;
        await new Promise((r) => setTimeout(r, 5));
        if (gone || id !== coworker.Id) throw notFound();
        return { ...coworker };
      },
    },
    kisi: {
      findUserByEmail: async (email: string) => {
        calls.findUserByEmail.push(email);
        const id = kisiUsers.get(email);
        return id === undefined ? undefined : ({ id, email, name: null } as never);
      },
      createUser: async (input: { email: string }) => {
        calls.createUser.push(input.email);
        if (kisiUsers.has(input.email)) throw taken();
        const id = 900 + kisiUsers.size;
        kisiUsers.set(input.email, id);
        return { id, email: input.email, name: null } as never;
      },
    },
  };
  return { coworker, calls, deps, forget: () => (gone = true) };
}

const customer = { customerId: 7, name: null };

test('grants of one customer starting together read the customer once and create the user once', async () => {
  const { calls, deps } = world();
  const users = new KisiUsers(deps);
  const answers = await Promise.all([users.resolve(customer), users.resolve(customer), users.resolve(customer)]);
  const later = await users.resolve(customer);
  expect(answers.map((a) => a.person?.kisiUserId)).toEqual([901, 901, 901]);
  expect(later).toMatchObject({ active: true, created: false, person: { kisiUserId: 901, email: 'ada@example.com', emailKey: 'ada@example.com' } });
  expect(calls).toEqual({ getCoworker: 1, findUserByEmail: [], createUser: ['ada@example.com'] });
});

test('a person Kisi already knows: create answers "taken", then one look-up', async () => {
  const { calls, deps } = world({ Email: 'Existing@Example.com' });
  const resolved = await new KisiUsers(deps).resolve(customer);
  expect(resolved).toMatchObject({ created: false, person: { kisiUserId: 501, email: 'existing@example.com' } });
  expect(calls.createUser).toEqual(['existing@example.com']);
  expect(calls.findUserByEmail).toEqual(['existing@example.com']);
});

test('fresh (an operator retry) and an expired TTL read Nexudus and Kisi again', async () => {
  const { calls, deps } = world({ Email: 'existing@example.com' });
  const users = new KisiUsers(deps);
  await users.resolve(customer);
  await users.resolve(customer, true);
  expect(calls.getCoworker).toBe(2);
  expect(calls.findUserByEmail).toHaveLength(2);
  const shortLived = new KisiUsers({ ...deps, cacheTtlMs: 0 });
  await shortLived.resolve(customer);
  await new Promise((r) => setTimeout(r, 2));
  await shortLived.resolve(customer);
  expect(calls.getCoworker).toBe(4);
});

test('a record a sync or reconcile read replaces the kept one: a booking of a known customer costs no read', async () => {
  const { calls, deps } = world();
  const users = new KisiUsers(deps);
  users.directory.note({ Id: 7, FullName: 'Ada', Email: 'existing@example.com', Active: true, UpdatedOn: '2026-12-02T10:00:00Z' } as NexudusCoworker);
  expect((await users.resolve(customer)).person).toMatchObject({ kisiUserId: 501, email: 'existing@example.com' });
  expect(calls.getCoworker).toBe(0);
  // An older record does not replace a newer one.
  users.directory.note({ Id: 7, Email: 'old@example.com', UpdatedOn: '2026-11-01T10:00:00Z' } as NexudusCoworker);
  expect((await users.resolve(customer)).person?.email).toBe('existing@example.com');
});

test('newer facts a grant heard from its customer workflow win over the kept record', async () => {
  const { deps } = world();
  const users = new KisiUsers(deps);
  await users.resolve(customer);
  const moved = await users.resolve({ ...customer, known: { customerId: 7, email: 'existing@example.com', name: 'Ada', active: true, version: Date.parse('2026-12-03T00:00:00Z') } });
  expect(moved.person).toMatchObject({ kisiUserId: 501, email: 'existing@example.com' });
  const stale = await users.resolve({ ...customer, known: { customerId: 7, email: 'old@example.com', name: 'Ada', active: true, version: Date.parse('2026-01-01T00:00:00Z') } });
  expect(stale.person?.email).toBe('ada@example.com');
});

test('an inactive customer, or one gone from Nexudus, may not enter: no Kisi call at all', async () => {
  const inactive = world({ Active: false });
  expect(await new KisiUsers(inactive.deps).resolve(customer)).toMatchObject({ active: false, person: null, facts: { active: false } });
  expect(inactive.calls.createUser).toEqual([]);
  const gone = world();
  gone.forget();
  expect(await new KisiUsers(gone.deps).resolve(customer)).toMatchObject({ active: false, person: null, facts: null });
});

test('a customer without an email needs a person, and their fix is seen on the next attempt', async () => {
  const { calls, deps, coworker } = world({ Email: null });
  const users = new KisiUsers(deps);
  await expect(users.resolve(customer)).rejects.toThrow(/has no email address/);
  coworker.Email = 'ada@example.com';
  await expect(users.resolve(customer)).resolves.toMatchObject({ person: { kisiUserId: 901 } });
  expect(calls.getCoworker).toBe(2);
});

test('the directory runs a caller\'s beforeRead only before a read of its own: not for a kept answer, not for a read already in flight', async () => {
  let reads = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const directory = new CustomerDirectory({
    getCoworker: async (id, options) => {
      reads++;
      await options?.beforeSend?.();
      await held;
      return { Id: id, FullName: 'Ada Lovelace', Email: 'ada@example.com', Active: true, UpdatedOn: '2026-12-01T10:00:00Z' } as NexudusCoworker;
    },
  }, 60_000);
  const hooks: string[] = [];
  const hook = (name: string) => async () => void hooks.push(name);
  const own = directory.get(7, true, hook('own'));
  const joined = directory.get(7, true, hook('joined')); // the read in flight started before this call
  release();
  await Promise.all([own, joined]);
  await directory.get(7, false, hook('kept'));
  expect(reads).toBe(1);
  expect(hooks).toEqual(['own']);
  await directory.get(7, true, hook('fresh'));
  expect(reads).toBe(2);
  expect(hooks).toEqual(['own', 'fresh']);
});

test('a live caller does not join a read in flight in a later lane (a sync queued behind a burst): it reads itself; a later caller joins the earlier-lane read', async () => {
  const releases: Array<() => void> = [];
  const lanes: string[] = [];
  const directory = new CustomerDirectory({
    getCoworker: async (id) => {
      await new Promise<void>((r) => releases.push(r));
      return { Id: id, FullName: 'Ada Lovelace', Email: 'ada@example.com', Active: true, UpdatedOn: '2026-12-01T10:00:00Z' } as NexudusCoworker;
    },
  }, 60_000);
  const sync = withCallContext({ lane: 'scheduled' }, () => directory.get(7, true).then(() => lanes.push('scheduled')));
  const live = withCallContext({ lane: 'live' }, () => directory.get(7).then(() => lanes.push('live')));
  const background = withCallContext({ lane: 'background' }, () => directory.get(7).then(() => lanes.push('background')));
  await new Promise((r) => setTimeout(r, 0));
  expect(releases).toHaveLength(2); // the sync's read and the live caller's own; background joined the live one
  releases[1]!(); // the live read answers first: the scheduled one is still queued
  await Promise.all([live, background]);
  expect(lanes).toEqual(['live', 'background']);
  // A second live caller finds the kept answer.
  await withCallContext({ lane: 'live' }, () => directory.get(7));
  expect(releases).toHaveLength(2);
  releases[0]!();
  await sync;
  expect(lanes).toEqual(['live', 'background', 'scheduled']);
});
