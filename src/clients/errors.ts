/**
 * One place that decides what an API failure means. Both clients turn every failure into
 * an ApiError; activities turn an ApiError into a Temporal failure (retryable or not).
 */
export type Service = 'kisi' | 'nexudus';

export interface ApiErrorInit {
  service: Service;
  method: string;
  path: string;
  /** HTTP status; undefined for network errors and timeouts. */
  status?: number;
  /** Kisi error code (`{"code": "afc516"}`) or Nexudus error identifier, when the body has one. */
  code?: string;
  /** Field errors from a 422 (Kisi `{"errors": {"field": ["msg"]}}`) or a Nexudus validation answer. */
  fieldErrors?: Record<string, string[]>;
  /** Server-provided wait before retrying (from `Retry-After`, at most MAX_RETRY_AFTER_MS). */
  retryAfterMs?: number;
  /** Request id header of the answer, for support tickets and logs. */
  requestId?: string;
  /**
   * Network-level failure (connection refused/reset, DNS), a timeout, or a call its caller cancelled
   * (an activity's cancellation: queued and never sent, or aborted in flight).
   */
  transport?: Transport;
  message?: string;
}

export type Transport = 'network' | 'timeout' | 'cancelled';

export class ApiError extends Error {
  readonly service: Service;
  readonly method: string;
  readonly path: string;
  readonly status?: number;
  readonly code?: string;
  readonly fieldErrors?: Record<string, string[]>;
  readonly retryAfterMs?: number;
  readonly requestId?: string;
  readonly transport?: Transport;
  /** Decided once, here: see isRetryable. */
  readonly retryable: boolean;

  constructor(init: ApiErrorInit) {
    super(init.message ?? describe(init));
    this.name = 'ApiError';
    this.service = init.service;
    this.method = init.method;
    this.path = init.path;
    this.status = init.status;
    this.code = init.code;
    this.fieldErrors = init.fieldErrors;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
    this.transport = init.transport;
    this.retryable = isRetryable(init.service, init.status, init.transport);
  }

  /** A plain, log- and Temporal-safe view (no request bodies, no secrets). */
  toJSON(): Record<string, unknown> {
    return {
      service: this.service,
      method: this.method,
      path: this.path,
      status: this.status,
      code: this.code,
      fieldErrors: this.fieldErrors,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      requestId: this.requestId,
      transport: this.transport,
      message: this.message,
    };
  }
}

/**
 * Retryable: network errors, timeouts, 5xx, 429 (Kisi's limit) and 409 from Nexudus (its throttling
 * answer). Everything else (401/403/404/422, other 4xx) needs a person: bad key, unknown id, invalid data.
 * A cancelled call is not retryable: whoever cancelled it no longer wants the answer.
 */
export function isRetryable(service: Service, status: number | undefined, transport?: Transport): boolean {
  if (transport === 'cancelled') return false;
  if (transport) return true;
  if (status === undefined) return true;
  if (status >= 500) return true;
  if (status === 429) return true;
  if (status === 408) return true;
  if (service === 'nexudus' && status === 409) return true;
  return false;
}

/**
 * The longest `Retry-After` we honour. The pause it causes holds back every request of the key in
 * the process (live ones too) and becomes the activity's next retry delay; a server or proxy
 * answering an hour or a day must not freeze doors for that long. A minute is also the longest
 * interval of the activities' retry policy (workflows/policy.ts).
 */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds relative to `now`, at most MAX_RETRY_AFTER_MS. */
export function parseRetryAfter(value: string | undefined | null, now: number = Date.now()): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const seconds = Number(value);
  let ms: number;
  if (Number.isFinite(seconds)) ms = Math.round(seconds * 1000);
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** True for an error that says a later try may succeed (an ApiError of a retryable kind, or any error flagged so). */
export function isRetryableError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === true;
}

/** An error's message, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** True for a call its caller cancelled (queued and never sent, or aborted in flight): code that swallows per-item failures must let this one through. */
export function isCancelledCall(error: unknown): boolean {
  return isApiError(error) && error.transport === 'cancelled';
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}

/** True for a 404: callers that delete treat "already gone" as success. */
export function isNotFound(error: unknown): boolean {
  return isApiError(error) && error.status === 404;
}

function describe(init: ApiErrorInit): string {
  const where = `${init.service} ${init.method.toUpperCase()} ${init.path}`;
  if (init.transport === 'timeout') return `${where}: timed out`;
  if (init.transport === 'network') return `${where}: network error`;
  if (init.transport === 'cancelled') return `${where}: cancelled`;
  const fields = init.fieldErrors
    ? ': ' + Object.entries(init.fieldErrors).map(([k, v]) => `${k} ${v.join(', ')}`).join('; ')
    : '';
  return `${where}: HTTP ${init.status ?? '?'}${init.code ? ` (${init.code})` : ''}${fields}`;
}
