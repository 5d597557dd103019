/**
 * Bad days on demand, shared by both sandboxes: added latency, a rate of 5xx, a rate of
 * throttling answers (Kisi 429, Nexudus 409), per route, set at start (env/options) or at run time
 * through `POST /__sandbox/faults`. Also the provider's own rate limit, enforced server-side.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { seededRandom } from '../lib/seeded-random';

export const faultRuleSchema = z.object({
  /** `*`, a method and path prefix (`POST /role_assignments`) or a path prefix (`/api/spaces/bookings`). */
  route: z.string().default('*'),
  /** Fixed latency in ms, or [min, max] for a uniform random latency. */
  latencyMs: z.union([z.number().min(0), z.tuple([z.number().min(0), z.number().min(0)])]).optional(),
  /** Share of requests answered 500/502/503 (0..1). */
  errorRate: z.number().min(0).max(1).default(0),
  /** Share of requests answered with the provider's throttling status (0..1). */
  throttleRate: z.number().min(0).max(1).default(0),
  /** Retry-After seconds sent with injected throttling answers; omitted when undefined. */
  retryAfterSeconds: z.number().min(0).optional(),
  /**
   * Share of requests (0..1) that are carried out and then answered 503 anyway: the answer lost
   * after the provider did the work (a create that happened, though the caller saw an error).
   */
  lostAnswerRate: z.number().min(0).max(1).default(0),
});
export type FaultRule = z.output<typeof faultRuleSchema>;

export const faultConfigSchema = z.object({
  rules: z.array(faultRuleSchema).default([]),
  /** Seed for the random draws, so a drill can be repeated exactly. */
  seed: z.number().int().optional(),
});
export type FaultConfig = z.input<typeof faultConfigSchema>;

export interface FaultStats {
  requests: number;
  errors: number;
  throttled: number;
  delayed: number;
  lostAnswers: number;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private random: () => number = Math.random;
  readonly stats: FaultStats = { requests: 0, errors: 0, throttled: 0, delayed: 0, lostAnswers: 0 };

  constructor(
    private readonly throttleStatus: 429 | 409,
    private readonly throttleBody: () => unknown,
    private readonly errorBody: () => unknown,
    config?: FaultConfig,
  ) {
    if (config) this.configure(config);
  }

  configure(config: FaultConfig): void {
    const parsed = faultConfigSchema.parse(config);
    this.rules = parsed.rules;
    this.random = parsed.seed === undefined ? Math.random : seededRandom(parsed.seed);
  }

  clear(): void {
    this.rules = [];
  }

  current(): { rules: FaultRule[]; stats: FaultStats } {
    return { rules: this.rules, stats: { ...this.stats } };
  }

  /** Reads `SANDBOX_FAULTS` style JSON (`{"rules":[...]}`) from an environment value. */
  static configFromEnv(value: string | undefined): FaultConfig | undefined {
    if (!value) return undefined;
    return faultConfigSchema.parse(JSON.parse(value));
  }

  /** Express middleware: applies the first matching rule. Sandbox control routes are exempt. */
  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.path.startsWith('/__sandbox')) return next();
      this.stats.requests++;
      const rule = this.rules.find((r) => matches(r.route, req.method, req.path));
      if (!rule) return next();
      const delay = this.latency(rule);
      const proceed = () => {
        const draw = this.random();
        if (draw < rule.errorRate) {
          this.stats.errors++;
          const status = [500, 502, 503][Math.floor(this.random() * 3)]!;
          res.status(status).json(this.errorBody());
          return;
        }
        if (draw < rule.errorRate + rule.throttleRate) {
          this.stats.throttled++;
          if (rule.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(rule.retryAfterSeconds));
          res.status(this.throttleStatus).json(this.throttleBody());
          return;
        }
        if (draw < rule.errorRate + rule.throttleRate + rule.lostAnswerRate) {
          // Let the route do its work, then replace its answer with a 503.
          this.stats.lostAnswers++;
          const json = res.json.bind(res);
          const send = res.send.bind(res);
          let replaced = false;
          const replace = () => {
            if (replaced) return res;
            replaced = true;
            res.status(503);
            return json(this.errorBody());
          };
          res.json = (() => replace()) as typeof res.json;
          res.send = ((body?: unknown) => (replaced ? send(body) : replace())) as typeof res.send;
          next();
          return;
        }
        next();
      };
      if (delay > 0) {
        this.stats.delayed++;
        setTimeout(proceed, delay);
      } else proceed();
    };
  }

  private latency(rule: FaultRule): number {
    if (rule.latencyMs === undefined) return 0;
    if (typeof rule.latencyMs === 'number') return rule.latencyMs;
    const [min, max] = rule.latencyMs;
    return min + this.random() * Math.max(0, max - min);
  }
}

function matches(route: string, method: string, path: string): boolean {
  if (route === '*') return true;
  const space = route.indexOf(' ');
  if (space > 0) {
    const m = route.slice(0, space).toUpperCase();
    return (m === '*' || m === method.toUpperCase()) && path.startsWith(route.slice(space + 1));
  }
  return path.startsWith(route);
}

/**
 * The provider's own limit, enforced like the provider does: at most `perSecond` requests in any
 * rolling second (Kisi: 5) and/or `perMinute` in any rolling minute (Nexudus: 120), per API key.
 */
export class ServerRateLimit {
  private readonly seen = new Map<string, number[]>();
  rejected = 0;

  constructor(
    private readonly limits: { perSecond?: number; perMinute?: number },
    private readonly status: 429 | 409,
    private readonly body: () => unknown,
    private readonly keyOf: (req: Request) => string,
    public enabled = true,
  ) {}

  middleware(): RequestHandler {
    return (req, res, next) => {
      if (!this.enabled || req.path.startsWith('/__sandbox')) return next();
      const key = this.keyOf(req);
      const now = Date.now();
      const times = (this.seen.get(key) ?? []).filter((t) => t > now - 60_000);
      const lastSecond = times.filter((t) => t > now - 1_000).length;
      const over =
        (this.limits.perSecond !== undefined && lastSecond >= this.limits.perSecond) ||
        (this.limits.perMinute !== undefined && times.length >= this.limits.perMinute);
      if (over) {
        this.rejected++;
        this.seen.set(key, times);
        const oldestInWindow = this.limits.perSecond !== undefined && lastSecond >= this.limits.perSecond
          ? times.filter((t) => t > now - 1_000)[0]! + 1_000
          : times[0]! + 60_000;
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil((oldestInWindow - now) / 1000))));
        res.status(this.status).json(this.body());
        return;
      }
      times.push(now);
      this.seen.set(key, times);
      next();
    };
  }
}
