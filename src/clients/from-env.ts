/**
 * Clients built from the environment, for the production entry points and CLI tools. `npm start`
 * points these variables at the local sandboxes when no credentials are configured.
 * API_PRIORITIES=off makes both clients' request gates ignore lanes (one queue, arrival order).
 */
import { ConfigError, type Env } from '../config/env';
import { KisiClient } from './kisi';
import { NexudusClient } from './nexudus';

export function kisiClientFromEnv(env: Env): KisiClient {
  if (!env.KISI_API_KEY) {
    throw new ConfigError(['KISI_API_KEY: required (the Kisi API key); `npm start` without it runs against the local Kisi sandbox']);
  }
  return new KisiClient({
    apiKey: env.KISI_API_KEY,
    baseUrl: env.KISI_BASE_URL,
    timeoutMs: env.KISI_TIMEOUT,
    maxRps: env.KISI_MAX_RPS,
    priorities: env.API_PRIORITIES === 'on',
    integrationIdentifier: 'nexudus-kisi-access',
  });
}

export function nexudusClientFromEnv(env: Env): NexudusClient {
  if (!env.NEXUDUS_USERNAME || !env.NEXUDUS_PASSWORD) {
    throw new ConfigError(['NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required; `npm start` without them runs against the local Nexudus sandbox']);
  }
  return new NexudusClient({
    baseUrl: env.NEXUDUS_BASE_URL,
    username: env.NEXUDUS_USERNAME,
    password: env.NEXUDUS_PASSWORD,
    auth: env.NEXUDUS_AUTH,
    timeoutMs: env.NEXUDUS_TIMEOUT,
    priorities: env.API_PRIORITIES === 'on',
  });
}
