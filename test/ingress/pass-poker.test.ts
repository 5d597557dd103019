import { DEFAULT_POKE_INTERVAL_MS, PassWatchPoker } from '../../src/ingress/pass-poker';

describe('pass-watcher pokes: at most one per 500 ms per ingress process', () => {
  test('the interval is 500 ms', () => expect(DEFAULT_POKE_INTERVAL_MS).toBe(500));

  beforeEach(() => jest.useFakeTimers({ now: Date.parse('2026-12-07T09:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  const poker = (send: () => Promise<void> = () => Promise.resolve()) => {
    const warn = jest.fn();
    const sent = jest.fn(send);
    return { p: new PassWatchPoker({ send: sent, logger: { warn } as never }), sent, warn };
  };

  it('sends the first poke at once, then one trailing poke at the end of the interval for everything in it', () => {
    const { p, sent } = poker();
    p.poke();
    expect(sent).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 40; i++) {
      jest.advanceTimersByTime(10);
      p.poke();
    }
    expect(sent).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(99); // 499 ms after the first
    expect(sent).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(1);
    expect(sent).toHaveBeenCalledTimes(2);
    // Nothing more asked: nothing more sent.
    jest.advanceTimersByTime(5_000);
    expect(sent).toHaveBeenCalledTimes(2);
    expect(p.requested).toBe(41);
    // A quiet interval later, the next poke goes at once again.
    p.poke();
    expect(sent).toHaveBeenCalledTimes(3);
  });

  it('a burst of 300 webhooks over 10 s costs 21 signals', () => {
    const { p, sent } = poker();
    for (let i = 0; i < 300; i++) {
      p.poke();
      jest.advanceTimersByTime(33);
    }
    jest.advanceTimersByTime(2_000);
    expect(p.requested).toBe(300);
    expect(sent.mock.calls.length).toBeGreaterThanOrEqual(20);
    expect(sent.mock.calls.length).toBeLessThanOrEqual(21);
  });

  it('a failed poke is logged, never thrown to the webhook, and the next interval pokes again', async () => {
    const { p, sent, warn } = poker(() => Promise.reject(new Error('Temporal is down')));
    expect(() => p.poke()).not.toThrow();
    await Promise.resolve();
    await Promise.resolve();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(p.failed).toBe(1);
    // Even a send that throws synchronously.
    const sync = new PassWatchPoker({ send: () => { throw new Error('no client'); }, logger: { warn } as never });
    expect(() => sync.poke()).not.toThrow();
    jest.advanceTimersByTime(1_000);
    p.poke();
    expect(sent).toHaveBeenCalledTimes(2);
  });

  it('tells each poke requested, sent and failed to onOutcome (the ingress counts them in /metrics)', async () => {
    const outcomes: string[] = [];
    const p = new PassWatchPoker({ send: () => Promise.reject(new Error('down')), logger: { warn: jest.fn() } as never, onOutcome: (o) => outcomes.push(o) });
    p.poke();
    p.poke();
    await Promise.resolve();
    await Promise.resolve();
    expect(outcomes).toEqual(['requested', 'sent', 'requested', 'failed']);
  });

  it('close drops a trailing poke not sent yet', () => {
    const { p, sent } = poker();
    p.poke();
    p.poke();
    p.close();
    jest.advanceTimersByTime(2_000);
    p.poke();
    expect(sent).toHaveBeenCalledTimes(1);
  });
});
