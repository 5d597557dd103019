import { answeredSyncRequests, syncReason, type QueuedSyncRequest } from '../../src/domain/sync-requests';

const req = (seq: number, extra: Partial<QueuedSyncRequest> & { reason?: string } = {}) => ({ seq, deleted: false, reason: 'AccessControlUpdate', ...extra });

describe('answeredSyncRequests: which queued requests a sync\'s read already answered', () => {
  test('requests received before the read are answered, later ones keep their own pass, order kept', () => {
    const queued = [req(2), req(3), req(4), req(5)];
    const { answered, pending } = answeredSyncRequests(queued, { upTo: 3, cardsOnly: false });
    expect(answered.map((r) => r.seq)).toEqual([2, 3]);
    expect(pending.map((r) => r.seq)).toEqual([4, 5]);
  });

  test('unknown count (the query failed, or the read joined one in flight): nothing is answered', () => {
    const queued = [req(2), req(3)];
    expect(answeredSyncRequests(queued, { upTo: undefined, cardsOnly: false })).toEqual({ answered: [], pending: queued });
  });

  test('a deletion is never answered by a sync: CoworkerDelete runs its own path', () => {
    const queued = [req(2, { deleted: true, reason: 'CoworkerDelete' }), req(3)];
    const { answered, pending } = answeredSyncRequests(queued, { upTo: 3, cardsOnly: false });
    expect(answered.map((r) => r.seq)).toEqual([3]);
    expect(pending.map((r) => r.seq)).toEqual([2]);
  });

  test('a cards-only sync answers only cards-only requests; a full sync answers both', () => {
    const queued = [req(2), req(3, { cardsOnly: true, reason: 'cards' })];
    const cardsOnly = answeredSyncRequests(queued, { upTo: 3, cardsOnly: true });
    expect(cardsOnly.answered.map((r) => r.seq)).toEqual([3]);
    expect(cardsOnly.pending.map((r) => r.seq)).toEqual([2]);
    expect(answeredSyncRequests(queued, { upTo: 3, cardsOnly: false }).answered.map((r) => r.seq)).toEqual([2, 3]);
  });

  test('a count of 0 (nothing received yet) or below every queued number answers nothing', () => {
    expect(answeredSyncRequests([req(1), req(2)], { upTo: 0, cardsOnly: false }).answered).toEqual([]);
    expect(answeredSyncRequests([req(4)], { upTo: 3, cardsOnly: false }).answered).toEqual([]);
  });

  test('every request is in exactly one part, whatever the count', () => {
    const queued = [req(1), req(2, { deleted: true }), req(3, { cardsOnly: true }), req(4), req(7)];
    for (const upTo of [undefined, 0, 1, 2, 3, 4, 5, 10])
      for (const cardsOnly of [false, true]) {
        const { answered, pending } = answeredSyncRequests(queued, { upTo, cardsOnly });
        expect([...answered, ...pending].sort((a, b) => a.seq - b.seq)).toEqual(queued);
        for (const r of answered) expect(r.seq <= (upTo ?? -1) && !r.deleted && (!cardsOnly || r.cardsOnly)).toBe(true);
      }
  });
});

describe('syncReason', () => {
  test('the batch\'s reasons once each, as before; answered requests are named so an operator sees them', () => {
    expect(syncReason([{ reason: 'AccessControlUpdate' }, { reason: 'AccessControlUpdate' }, { reason: 'CoworkerUpdate' }])).toBe('AccessControlUpdate, CoworkerUpdate');
    expect(syncReason([{ reason: 'AccessControlUpdate' }], [{ reason: 'AccessControlUpdate' }, { reason: 'CoworkerUpdate' }])).toBe('AccessControlUpdate; answered 2 more (AccessControlUpdate, CoworkerUpdate)');
  });
});
