/**
 * Nexudus authentication as the sandbox plays it (developers.nexudus.com, "Token Authentication"):
 *   POST /api/token, form-encoded `grant_type=password&username&password`
 *     -> {access_token, token_type: "bearer", expires_in, refresh_token}; a JSON body fails with
 *     `unsupported_grant_type`; wrong credentials -> 400 `invalid_grant`.
 *   `grant_type=refresh_token&refresh_token=..` with a `client_id` header (the email when none was
 *     given at first) -> a new pair; the previous refresh tokens of that client stop working.
 *   Every API call: `Authorization: Bearer <token>` or Basic `email:password`; else 401.
 * Users may be limited to roles (`Booking-List`, `Checkin-Create`...): a missing role is a 403.
 */
import { randomBytes } from 'node:crypto';
import type { Request, RequestHandler } from 'express';

export interface SandboxUser {
  username: string;
  password: string;
  /** Roles like `Booking-List`; omitted = a full unrestricted administrator. */
  roles?: string[];
}

interface TokenRecord {
  username: string;
  expiresAt: number;
}

interface RefreshRecord {
  username: string;
  clientId: string;
}

export interface TokenAnswer {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  refresh_token: string;
}

export type TokenResult = { ok: true; answer: TokenAnswer } | { ok: false; status: number; error: string; description: string };

export const DENIED = { Message: 'Authorization has been denied for this request.' };

export class SandboxAuth {
  private readonly users = new Map<string, SandboxUser>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  readonly stats = { tokensIssued: 0, passwordGrants: 0, refreshGrants: 0, unauthorized: 0, forbidden: 0 };

  constructor(
    users: SandboxUser[],
    /** Lifetime of access tokens; Nexudus answers 604799 (a week). */
    public tokenTtlSeconds = 604_799,
    private readonly now: () => number = Date.now,
  ) {
    for (const u of users) this.users.set(u.username.toLowerCase(), u);
  }

  /** The token endpoint's logic, apart from HTTP. */
  grant(form: Record<string, unknown>, clientIdHeader: string | undefined): TokenResult {
    const grantType = typeof form.grant_type === 'string' ? form.grant_type : undefined;
    if (grantType === 'password') {
      const username = typeof form.username === 'string' ? form.username : '';
      const user = this.users.get(username.toLowerCase());
      if (!user || user.password !== form.password) return { ok: false, status: 400, error: 'invalid_grant', description: 'The user name or password is incorrect.' };
      this.stats.passwordGrants++;
      return { ok: true, answer: this.issue(user.username, clientIdHeader ?? user.username) };
    }
    if (grantType === 'refresh_token') {
      const token = typeof form.refresh_token === 'string' ? form.refresh_token : '';
      const record = this.refreshTokens.get(token);
      if (!record || (clientIdHeader !== undefined && clientIdHeader.toLowerCase() !== record.clientId.toLowerCase())) {
        return { ok: false, status: 400, error: 'invalid_grant', description: 'The refresh token is invalid or has expired.' };
      }
      this.stats.refreshGrants++;
      return { ok: true, answer: this.issue(record.username, record.clientId) };
    }
    return { ok: false, status: 400, error: 'unsupported_grant_type', description: 'grant_type must be password or refresh_token, sent form-encoded.' };
  }

  private issue(username: string, clientId: string): TokenAnswer {
    // One refresh token per client: a new one retires the old ones (Nexudus documents this).
    for (const [token, rec] of this.refreshTokens) if (rec.clientId.toLowerCase() === clientId.toLowerCase()) this.refreshTokens.delete(token);
    const access = randomBytes(24).toString('base64url');
    const refresh = randomBytes(24).toString('hex');
    this.tokens.set(access, { username, expiresAt: this.now() + this.tokenTtlSeconds * 1000 });
    this.refreshTokens.set(refresh, { username, clientId });
    this.stats.tokensIssued++;
    return { access_token: access, token_type: 'bearer', expires_in: this.tokenTtlSeconds, refresh_token: refresh };
  }

  /** Invalidates every access token (refresh tokens keep working), to drive a client into a 401. */
  revokeAccessTokens(): void {
    this.tokens.clear();
  }

  /** The user a request authenticates as, or undefined. */
  userOf(req: Request): SandboxUser | undefined {
    const header = req.headers.authorization ?? '';
    const space = header.indexOf(' ');
    if (space < 0) return undefined;
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      const record = this.tokens.get(value);
      if (!record || record.expiresAt <= this.now()) return undefined;
      return this.users.get(record.username.toLowerCase());
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return undefined;
      const user = this.users.get(decoded.slice(0, colon).toLowerCase());
      return user && user.password === decoded.slice(colon + 1) ? user : undefined;
    }
    return undefined;
  }

  /** Who a request counts against for rate limiting: the user, else the caller's address. */
  rateKeyOf(req: Request): string {
    const user = this.userOf(req);
    if (user) return `user:${user.username.toLowerCase()}`;
    const body = req.body as Record<string, unknown> | undefined;
    if (req.path.endsWith('/token') && typeof body?.username === 'string') return `user:${body.username.toLowerCase()}`;
    return `ip:${req.ip ?? '?'}`;
  }

  /** 401 unless authenticated; the user is left on `res.locals.user`. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const user = this.userOf(req);
      if (!user) {
        this.stats.unauthorized++;
        res.setHeader('WWW-Authenticate', 'Bearer');
        res.status(401).json(DENIED);
        return;
      }
      res.locals.user = user;
      next();
    };
  }

  /** True when the user holds `role` (administrators hold every role). */
  allows(user: SandboxUser, role: string): boolean {
    return user.roles === undefined || user.roles.some((r) => r.toLowerCase() === role.toLowerCase());
  }
}
