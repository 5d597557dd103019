/**
 * Everything workflows do to the outside world. `createActivities(deps)` receives the clients,
 * so tests pass sandboxes (or recording fakes) and production passes real clients.
 */
import type { Client } from '@temporalio/client';
import type { AccessMap } from '../src/config/access-map';
import type { Env } from '../src/config/env';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import { SpecSource } from '../src/clients/nexudus-grant-specs';
import { payloadKeysOf, searchableEmail } from '../src/temporal/payload-codec';
import { activityNow } from './clock';
import { createCheckinActivities } from './checkins';
import { createCustomerActivities } from './customers';
import { createGrantActivities } from './grant-leases';
import { createInventoryActivities } from './inventory';
import { KisiUsers } from './kisi-users';
import { createMembershipActivities } from './membership';
import { createPassActivities } from './passes';
import { createReconcileActivities } from './reconcile';

export interface ActivityDeps {
  kisi: KisiClient;
  nexudus: NexudusClient;
  temporal: Client;
  taskQueue: string;
  /** The access map in force (it may be reloaded while the worker runs). */
  accessMap: () => AccessMap;
  sendEmails: boolean;
  /** KISI_MAX_VALIDITY in ms: how far ahead any assignment the product writes may end (0: no bound). */
  maxValidityMs: number;
  /** What the CustomerEmail search attribute holds for an email (default: searchableEmail with the client's payload keys). */
  emailKey?: (email: string) => string;
  now?: () => number;
  /** See KisiUsers (tests that reset the Kisi sandbox pass 0). */
  userCacheTtlMs?: number;
}

export function createActivities(deps: ActivityDeps) {
  // The CustomerEmail value: the email, or its keyed hash when payloads are encrypted.
  const keys = payloadKeysOf(deps.temporal);
  const emailKey = deps.emailKey ?? ((email: string) => searchableEmail(keys, email));
  const kisiUsers = new KisiUsers({ kisi: deps.kisi, nexudus: deps.nexudus, sendEmails: deps.sendEmails, cacheTtlMs: deps.userCacheTtlMs, emailKey });
  const specs = new SpecSource({ nexudus: deps.nexudus, accessMap: deps.accessMap, now: deps.now ?? activityNow });
  return {
    ...createGrantActivities({ temporal: deps.temporal, taskQueue: deps.taskQueue, kisiUsers, specs, maxValidityMs: deps.maxValidityMs, cards: { kisi: deps.kisi, nexudus: deps.nexudus } }),
    ...createMembershipActivities({ kisi: deps.kisi, now: deps.now }),
    ...createCustomerActivities({ nexudus: deps.nexudus, kisi: deps.kisi, temporal: deps.temporal, taskQueue: deps.taskQueue, kisiUsers, specs, accessMap: deps.accessMap }),
    ...createPassActivities({ nexudus: deps.nexudus, temporal: deps.temporal, taskQueue: deps.taskQueue, kisiUsers, specs, accessMap: deps.accessMap }),
    ...createCheckinActivities({ kisi: deps.kisi, nexudus: deps.nexudus, accessMap: deps.accessMap, temporal: deps.temporal, taskQueue: deps.taskQueue, emailKey }),
    ...createReconcileActivities({ ...deps, kisiUsers }),
    ...createInventoryActivities({ kisi: deps.kisi, nexudus: deps.nexudus }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Production wiring: clients and the access map from the environment, a Temporal client for signalling memberships. */
export function activityDepsFromEnv(
  env: Env,
  temporal: Client,
  clients: { kisi: KisiClient; nexudus: NexudusClient },
  accessMap: () => AccessMap,
): ActivityDeps {
  return {
    kisi: clients.kisi,
    nexudus: clients.nexudus,
    temporal,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    accessMap,
    sendEmails: env.KISI_SEND_EMAILS,
    maxValidityMs: env.KISI_MAX_VALIDITY,
  };
}
