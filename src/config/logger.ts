/**
 * The product's logger: pino JSON lines on stdout (the supervisor renders them readably under
 * `npm start`). Secrets are redacted by key wherever they appear in a logged object.
 */
import pino, { type Logger } from 'pino';
import { SECRET_ENV_NAMES, type Env } from './env';

export type { Logger } from 'pino';

/** Keys whose values are never written, at the top level or one level down. */
const SECRET_KEYS = [...SECRET_ENV_NAMES, 'apiKey', 'password', 'secret', 'authorization', 'Authorization', 'token'];

export function createLogger(env: Pick<Env, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: env.LOG_LEVEL,
    redact: { paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`)], censor: '[redacted]' },
  });
}
