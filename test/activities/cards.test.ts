/**
 * The customer's cards against the Kisi and Nexudus sandboxes (activities/cards.ts): ours follow the
 * customer's current Kisi user, hand-made assignments are never removed, a re-issued card moves
 * only when its previous holder no longer holds it in Nexudus, values that are not card numbers are
 * reported and never sent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { syncCards, type CardDeps } from '../../activities/cards';
import { KisiClient } from '../../src/clients/kisi';
import { NexudusClient } from '../../src/clients/nexudus';
import { createKisiSandbox } from '../../dev/sandbox/kisi';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER } from '../../dev/sandbox/nexudus';

const kisiSandbox = createKisiSandbox({ rateLimit: false });
const nexudusSandbox = createNexudusSandbox({ rateLimit: false });
let kisi: KisiClient;
let nexudus: NexudusClient;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const k = await kisiSandbox.listen(0);
  const n = await nexudusSandbox.listen(0);
  closers.push(k.close, n.close);
  kisi = new KisiClient({ apiKey: 'cards-test', baseUrl: k.url, maxRps: 1000 });
  nexudus = new NexudusClient({ baseUrl: n.apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: { minIntervalMs: 0, perMinute: 100_000 } });
});
afterAll(async () => {
  for (const close of closers) await close();
});
beforeEach(() => {
  kisiSandbox.state.load(JSON.parse(fs.readFileSync(path.join(__dirname, '../../config/sandbox/kisi-seed.json'), 'utf8')));
  nexudusSandbox.reset();
});

const deps = (): CardDeps => ({ kisi, nexudus });
let seq = 0;
async function person(tag: string, cards: { AccessCardId?: string; KeyFobNumber?: string } = {}) {
  const email = `${tag}-${++seq}@example.com`;
  const customer = nexudusSandbox.state.addCoworker({ FullName: tag, Email: email, ...cards }) as { Id: number; AccessCardId?: string; KeyFobNumber?: string };
  const user = await kisi.createUser({ email, name: tag, sendEmails: false });
  return { customerId: customer.Id, email, kisiUserId: user.id, record: { AccessCardId: cards.AccessCardId ?? null, KeyFobNumber: cards.KeyFobNumber ?? null } };
}
const cardsOf = async (userId: number) => {
  const assignments = await kisi.listCardAssignments({ userId });
  return Promise.all(assignments.map(async (a) => [...kisiSandbox.state.cards.values()].find((c) => c.id === a.card_id)?.token));
};

test('assigns the customer\'s cards to their Kisi user, and takes ours to the new user when the email changes', async () => {
  const ada = await person('ada', { AccessCardId: 'C0FFEE01' });
  const first = await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: ada.kisiUserId, owned: [] });
  expect(first.problems).toEqual([]);
  expect(first.owned).toEqual([expect.objectContaining({ token: 'C0FFEE01', kisiUserId: ada.kisiUserId })]);
  expect(await cardsOf(ada.kisiUserId)).toEqual(['C0FFEE01']);

  // Same again: nothing changes, nothing doubled.
  const again = await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: ada.kisiUserId, owned: first.owned });
  expect(again.owned).toEqual(first.owned);
  expect(await cardsOf(ada.kisiUserId)).toEqual(['C0FFEE01']);

  // New email, new Kisi user: the card goes with the customer, the old user keeps nothing of ours.
  const newUser = await kisi.createUser({ email: `new-${ada.email}`, name: 'ada', sendEmails: false });
  const moved = await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: newUser.id, owned: first.owned });
  expect(moved.owned).toEqual([expect.objectContaining({ token: 'C0FFEE01', kisiUserId: newUser.id })]);
  expect(await cardsOf(ada.kisiUserId)).toEqual([]);
  expect(await cardsOf(newUser.id)).toEqual(['C0FFEE01']);
});

test('a card assigned by hand is never removed, not even when the customer may no longer enter', async () => {
  const ada = await person('hand');
  const card = await kisi.createCard({ token: 'BADGE0042' });
  await kisi.createCardAssignment({ userId: ada.kisiUserId, cardId: card.id });
  const ours = await person('ours', { AccessCardId: 'BADGE0043' });
  const placed = await syncCards(deps(), { customerId: ours.customerId, coworker: ours.record, kisiUserId: ours.kisiUserId, owned: [] });

  await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: ada.kisiUserId, owned: [] });
  expect(await cardsOf(ada.kisiUserId)).toEqual(['BADGE0042']);
  // Suspended or deleted (no record): ours go, the hand-made one stays.
  await syncCards(deps(), { customerId: ada.customerId, coworker: null, kisiUserId: ada.kisiUserId, owned: [] });
  expect(await cardsOf(ada.kisiUserId)).toEqual(['BADGE0042']);
  await syncCards(deps(), { customerId: ours.customerId, coworker: null, kisiUserId: ours.kisiUserId, owned: placed.owned });
  expect(await cardsOf(ours.kisiUserId)).toEqual([]);
});

test('a re-issued card moves from someone who left; one still held by another customer stays and is reported', async () => {
  // Bob left: his Kisi user still has the card, but no Nexudus customer with his email holds it.
  const bob = await person('bob');
  const card = await kisi.createCard({ token: 'F0B2001' });
  await kisi.createCardAssignment({ userId: bob.kisiUserId, cardId: card.id });
  const ada = await person('ada', { KeyFobNumber: 'F0B2001' });
  const reissued = await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: ada.kisiUserId, owned: [] });
  expect(reissued.problems).toEqual([]);
  expect(await cardsOf(ada.kisiUserId)).toEqual(['F0B2001']);
  expect(await cardsOf(bob.kisiUserId)).toEqual([]);

  // Cy still holds F0B3001 in Nexudus: Dee's record naming it too is a conflict, not a move.
  const cy = await person('cy', { AccessCardId: 'F0B3001' });
  await syncCards(deps(), { customerId: cy.customerId, coworker: cy.record, kisiUserId: cy.kisiUserId, owned: [] });
  const dee = await person('dee', { AccessCardId: 'F0B3001' });
  const conflict = await syncCards(deps(), { customerId: dee.customerId, coworker: dee.record, kisiUserId: dee.kisiUserId, owned: [] });
  expect(conflict.owned).toEqual([]);
  expect(conflict.problems).toEqual([expect.objectContaining({ code: 'held-by-another-customer' })]);
  expect(conflict.problems[0]!.detail).toContain(`Nexudus customer ${cy.customerId}`);
  expect(await cardsOf(cy.kisiUserId)).toEqual(['F0B3001']);
  expect(await cardsOf(dee.kisiUserId)).toEqual([]);
});

test('values that are not card numbers are reported, masked, and never sent to Kisi', async () => {
  const ada = await person('odd', { AccessCardId: 'ZZQQ9999', KeyFobNumber: 'ABCD1234' });
  const before = kisiSandbox.state.cards.size;
  const result = await syncCards(deps(), { customerId: ada.customerId, coworker: ada.record, kisiUserId: ada.kisiUserId, owned: [] });
  expect(result.problems).toEqual([expect.objectContaining({ code: 'not-a-card-number' })]);
  expect(result.problems[0]!.detail).not.toContain('ZZQQ');
  expect(await cardsOf(ada.kisiUserId)).toEqual(['ABCD1234']);
  expect(kisiSandbox.state.cards.size).toBe(before + 1);
});
