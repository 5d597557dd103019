import { claimLease, claimProblem, holderDeadline, NO_LEASE, releaseLease, type LeaseState } from '../../src/domain/activity-lease';

const TTL = 60_000;
const A = 'worker-a';
const B = 'worker-b';

describe('activity lease transitions', () => {
  const held = (holder: string, until: number, fence: number): LeaseState => ({ holder, until, fence });

  it.each([
    // [case, state, claimant, now, held, holder after, until after, fence after, acquired]
    ['a free lease is taken', NO_LEASE, A, 1_000, true, A, 1_000 + TTL, 1, true],
    ['the holder renews a running lease (same tenure)', held(A, 50_000, 3), A, 40_000, true, A, 40_000 + TTL, 3, false],
    ['another worker cannot take a running lease', held(A, 50_000, 3), B, 40_000, false, A, 50_000, 3, false],
    ['a running lease is still running at its last instant', held(A, 50_000, 3), B, 50_000, false, A, 50_000, 3, false],
    ['a lease that ran out passes to the next claimant (new tenure)', held(A, 50_000, 3), B, 50_001, true, B, 50_001 + TTL, 4, true],
    ['a holder whose lease ran out starts a new tenure', held(A, 50_000, 3), A, 50_001, true, A, 50_001 + TTL, 4, true],
    ['a released lease is taken at once', releaseLease(held(A, 50_000, 3), A), B, 10_000, true, B, 10_000 + TTL, 4, true],
  ] as const)('%s', (_case, state, claimant, now, isHeld, holder, until, fence, acquired) => {
    const { state: next, answer } = claimLease(state, { holder: claimant, ttlMs: TTL }, now);
    expect(answer).toEqual({ held: isHeld, holder, until, fence, acquired, at: now });
    expect(next).toEqual({ holder, until, fence });
  });

  it('a claim naming the holder as dead takes the running lease over at once (new tenure); naming anyone else does not', () => {
    const state = held(A, 50_000, 3);
    expect(claimLease(state, { holder: B, ttlMs: TTL, replaces: A }, 10_000).answer).toEqual({ held: true, holder: B, until: 10_000 + TTL, fence: 4, acquired: true, at: 10_000 });
    expect(claimLease(state, { holder: B, ttlMs: TTL, replaces: 'worker-c' }, 10_000).answer).toMatchObject({ held: false, holder: A });
    expect(claimLease(NO_LEASE, { holder: B, ttlMs: TTL, replaces: A }, 10_000).answer).toMatchObject({ held: true, holder: B, fence: 1 });
  });

  it('only the holder releases', () => {
    const state = held(A, 50_000, 2);
    expect(releaseLease(state, B)).toBe(state);
    expect(releaseLease(state, A)).toEqual({ holder: null, until: 0, fence: 2 });
  });

  it.each([
    [null, 'expected { holder, ttlMs }'],
    [{ holder: '', ttlMs: TTL }, 'holder must be'],
    [{ holder: 'x'.repeat(201), ttlMs: TTL }, 'holder must be'],
    [{ holder: A, ttlMs: 2_999 }, 'ttlMs must be'],
    [{ holder: A, ttlMs: 600_001 }, 'ttlMs must be'],
    [{ holder: A, ttlMs: 1.5e4 + 0.5 }, 'ttlMs must be'],
    [{ holder: A }, 'ttlMs must be'],
    [{ holder: A, ttlMs: TTL, replaces: A }, 'replaces must name another holder'],
    [{ holder: A, ttlMs: TTL, replaces: 7 }, 'replaces must name another holder'],
  ])('refuses the claim %j', (claim, problem) => {
    expect(claimProblem(claim)).toContain(problem);
  });

  it('accepts a well-formed claim', () => {
    expect(claimProblem({ holder: A, ttlMs: TTL })).toBeNull();
  });

  /**
   * The safety argument, by random schedules: a holder stops at its own deadline, measured from
   * when it sent the claim; the lease workflow applies the claim later (any delay) and lets the
   * next claimant in only after `until`. No instant may have two workers that both think they hold it.
   */
  it('two workers never hold it at once, whatever the delays (random schedules)', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const margin = 3_000;
    for (let run = 0; run < 300; run++) {
      let state: LeaseState = NO_LEASE;
      const tenures: Array<{ holder: string; from: number; to: number }> = [];
      let sentAt = 0;
      let lastApplied = 0;
      for (let step = 0; step < 60; step++) {
        sentAt += Math.floor(random() * 25_000);
        const claimant = random() < 0.5 ? A : B;
        // Network and server delay; workflow time never goes back.
        const appliedAt = Math.max(lastApplied, sentAt + Math.floor(random() * 20_000));
        lastApplied = appliedAt;
        const { state: next, answer } = claimLease(state, { holder: claimant, ttlMs: TTL }, appliedAt);
        state = next;
        if (!answer.held) continue;
        const answeredAt = appliedAt + Math.floor(random() * 5_000);
        const deadline = holderDeadline(sentAt, TTL, margin);
        if (answeredAt < deadline) tenures.push({ holder: claimant, from: answeredAt, to: deadline });
      }
      // Where two workers' believed tenures overlap in time, they must be the same worker.
      for (const x of tenures) for (const y of tenures) {
        if (x.holder !== y.holder && x.from < y.to && y.from < x.to) throw new Error(`run ${run}: ${JSON.stringify(x)} overlaps ${JSON.stringify(y)}`);
      }
    }
  });
});
