/**
 * The Kisi user behind a customer: reads of the Nexudus customer and Kisi look-ups are shared by
 * a customer's grants that start together, and never trusted past their TTL or on a fresh retry.
 */
import { KisiUsers, type KisiUserDeps } from '../../activities/kisi-users';
import type { NexudusCoworker } from '../../src/domain/nexudus-entities';

function world(initial: { email: string | null }) {
  const coworker: NexudusCoworker = { Id: 7, FullName: 'Ada Lovelace', Email: initial.email, AccessCardId: null } as NexudusCoworker;
  const calls = { getCoworker: 0, findUserByEmail: [] as string[], createUser: 0 };
  const deps: KisiUserDeps = {
    sendEmails: false,
    cacheTtlMs: 60_000,
    nexudus: {
      getCoworker: async (id) => {
        calls.getCoworker++;
        await new Promise((r) => setTimeout(r, 5));
        if (id !== coworker.Id) throw new Error(`no customer ${id}`);
        return { ...coworker };
      },
    },
    kisi: {
      findUserByEmail: async (email: string) => {
        calls.findUserByEmail.push(email);
        return email === 'ada@example.com' ? { id: 501, email, name: 'Ada Lovelace' } : undefined;
      },
      createUser: async () => {
        calls.createUser++;
        return { id: 900 + calls.createUser };
      },
      updateUser: async () => undefined,
      syncUserCards: async () => ({ added: 0, removed: 0 }),
    } as unknown as KisiUserDeps['kisi'],
  };
  return { coworker, calls, deps };
}

const customer = { customerId: 7, email: null, name: null };

test('bookings of one customer without an email in their webhook read the customer once', async () => {
  const { calls, deps } = world({ email: 'Ada@Example.com' });
  const users = new KisiUsers(deps);
  const answers = await Promise.all([users.ensure(customer), users.ensure(customer), users.ensure(customer)]);
  await users.ensure(customer);
  expect(answers.map((a) => a.kisiUserId)).toEqual([501, 501, 501]);
  expect(answers[0]!.email).toBe('ada@example.com');
  expect(calls.getCoworker).toBe(1);
  expect(calls.findUserByEmail).toEqual(['ada@example.com']);
});

test('a fresh ensure (an operator retry) reads Nexudus and Kisi again', async () => {
  const { calls, deps } = world({ email: 'ada@example.com' });
  const users = new KisiUsers(deps);
  await users.ensure(customer);
  await users.ensure(customer, true);
  expect(calls.getCoworker).toBe(2);
  expect(calls.findUserByEmail).toHaveLength(2);
});

test('the customer is read again once the TTL has passed', async () => {
  const { calls, deps } = world({ email: 'ada@example.com' });
  const users = new KisiUsers({ ...deps, cacheTtlMs: 0 });
  await users.ensure(customer);
  await new Promise((r) => setTimeout(r, 2));
  await users.ensure(customer);
  expect(calls.getCoworker).toBe(2);
});

test('a customer sync with a changed email is what later grants use', async () => {
  const { calls, deps } = world({ email: 'old@example.com' });
  const users = new KisiUsers(deps);
  expect((await users.ensure(customer)).kisiUserId).toBe(901); // no Kisi user for old@: created
  await users.refresh({ Id: 7, FullName: 'Ada Lovelace', Email: 'ada@example.com' } as NexudusCoworker);
  const after = await users.ensure(customer);
  expect(after).toEqual({ kisiUserId: 501, email: 'ada@example.com' });
  expect(calls.getCoworker).toBe(1);
});

test('a customer without an email needs a person, and their fix is seen on the next attempt', async () => {
  const { calls, deps, coworker } = world({ email: null });
  const users = new KisiUsers(deps);
  await expect(users.ensure(customer)).rejects.toThrow(/has no email address/);
  coworker.Email = 'ada@example.com';
  await expect(users.ensure(customer)).resolves.toEqual({ kisiUserId: 501, email: 'ada@example.com' });
  expect(calls.getCoworker).toBe(2);
});
