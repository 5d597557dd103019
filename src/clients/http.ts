/**
 * What both API clients share: the translation of an axios failure into an ApiError (errors.ts
 * decides retryability). Pacing under a provider's rate limit is request-gate.ts.
 */
import axios, { type AxiosError, type AxiosResponse } from 'axios';
import { ApiError, parseRetryAfter, type Service } from './errors';
import { GateCancelledError } from './request-gate';

/** Extracts a request id from common response headers, for logs and support tickets. */
export function requestIdOf(headers: AxiosResponse['headers'] | undefined): string | undefined {
  if (!headers) return undefined;
  for (const name of ['x-request-id', 'x-amzn-requestid', 'request-id', 'x-correlation-id']) {
    const value = headers[name];
    if (typeof value === 'string' && value) return value;
  }
  return undefined;
}

/**
 * Turns any failure of an axios call into an ApiError. `parseBody` reads the provider's error
 * body (code, field errors); it never sees request bodies, so nothing secret ends up in errors.
 * `where` names the call (method, path without query) when the failure is not axios' own (a request
 * cancelled in the gate's queue).
 */
export function toApiError(
  service: Service,
  error: unknown,
  parseBody: (data: unknown) => { code?: string; fieldErrors?: Record<string, string[]>; message?: string } = () => ({}),
  where: { method: string; path: string } = { method: '?', path: '?' },
): ApiError {
  if (error instanceof ApiError) return error;
  const at = { service, method: where.method.toUpperCase(), path: where.path };
  if (error instanceof GateCancelledError) {
    return new ApiError({ ...at, transport: 'cancelled', message: `${service} ${at.method} ${at.path}: cancelled while queued for the rate limit (not sent)` });
  }
  if (!axios.isAxiosError(error)) {
    return new ApiError({ ...at, transport: 'network', message: `${service}: ${String(error)}` });
  }
  const e = error as AxiosError;
  const method = (e.config?.method ?? where.method).toUpperCase();
  const path = pathOf(e.config?.url ?? where.path);
  if (!e.response) {
    // ERR_CANCELED is our AbortSignal (the caller's cancellation); axios' own timeout is ECONNABORTED/ETIMEDOUT.
    if (e.code === 'ERR_CANCELED') return new ApiError({ service, method, path, transport: 'cancelled', message: `${service} ${method} ${path}: cancelled in flight` });
    const timeout = e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT';
    return new ApiError({ service, method, path, transport: timeout ? 'timeout' : 'network' });
  }
  const parsed = safeParse(parseBody, e.response.data);
  return new ApiError({
    service,
    method,
    path,
    status: e.response.status,
    code: parsed.code,
    fieldErrors: parsed.fieldErrors,
    retryAfterMs: parseRetryAfter(headerString(e.response.headers['retry-after'])),
    requestId: requestIdOf(e.response.headers),
  });
}

function safeParse<T>(parse: (data: unknown) => T, data: unknown): Partial<T> {
  try {
    return parse(data);
  } catch {
    return {};
  }
}

function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

/** Path without query string: query parameters may carry emails, which we keep out of errors. */
function pathOf(url: string | undefined): string {
  if (!url) return '?';
  try {
    return new URL(url, 'http://x').pathname;
  } catch {
    return url.split('?')[0] ?? url;
  }
}
