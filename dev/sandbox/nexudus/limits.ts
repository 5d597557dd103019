/**
 * Nexudus' "1 call per 100 ms" rule per user (the per-minute cap is ServerRateLimit's job).
 * Answers like Nexudus' throttle: 409 with `Retry-After` in whole seconds.
 *
 * `graceMs` forgives a few ms of network jitter: a client that starts requests exactly 100 ms apart
 * may see them arrive 98 ms apart. Nexudus' own window arithmetic is not published.
 */
import type { Request, RequestHandler } from 'express';

export class MinIntervalLimit {
  private readonly last = new Map<string, number>();
  rejected = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly body: () => unknown,
    private readonly keyOf: (req: Request) => string,
    public enabled = true,
    private readonly graceMs = Math.min(10, minIntervalMs / 10),
  ) {}

  middleware(): RequestHandler {
    return (req, res, next) => {
      if (!this.enabled || req.path.startsWith('/__sandbox')) return next();
      const key = this.keyOf(req);
      const now = Date.now();
      const previous = this.last.get(key);
      if (previous !== undefined && now - previous < this.minIntervalMs - this.graceMs) {
        this.rejected++;
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil((previous + this.minIntervalMs - now) / 1000))));
        res.status(409).json(this.body());
        return;
      }
      this.last.set(key, now);
      next();
    };
  }
}
