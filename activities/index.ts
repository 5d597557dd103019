/**
 * Everything workflows do to the outside world. `createActivities(deps)` receives the clients,
 * so tests pass sandboxes (or recording fakes) and production passes real clients.
 */
import type { Client } from '@temporalio/client';
import { AccessMap } from '../src/config/access-map';
import type { Env } from '../src/config/env';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import { SpecSource } from '../src/grants/specs';
import { payloadKeysOf } from '../src/temporal/payload-codec';
import { activityNow } from './clock';
import { createCheckinActivities } from './checkins';
import { createCustomerActivities } from './customers';
import { createGrantActivities } from './grants';
import { KisiUsers } from './kisi-users';
import { createMembershipActivities } from './membership';
import { createReconcileActivities } from './reconcile';

export interface ActivityDeps {
  kisi: KisiClient;
  nexudus: NexudusClient;
  temporal: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  sendEmails: boolean;
  now?: () => number;
  /** See KisiUsers (tests that reset the Kisi sandbox pass 0). */
  userCacheTtlMs?: number;
}

export function createActivities(deps: ActivityDeps) {
  const kisiUsers = new KisiUsers({ kisi: deps.kisi, nexudus: deps.nexudus, sendEmails: deps.sendEmails, cacheTtlMs: deps.userCacheTtlMs });
  const specs = new SpecSource({ nexudus: deps.nexudus, accessMap: deps.accessMap, now: deps.now ?? activityNow });
  return {
    ...createGrantActivities({ temporal: deps.temporal, taskQueue: deps.taskQueue, kisiUsers, specs }),
    ...createMembershipActivities({ kisi: deps.kisi, now: deps.now }),
    ...createCustomerActivities({ nexudus: deps.nexudus, temporal: deps.temporal, taskQueue: deps.taskQueue, kisiUsers, specs, accessMap: deps.accessMap }),
    ...createCheckinActivities({ kisi: deps.kisi, nexudus: deps.nexudus, accessMap: deps.accessMap, payloadKeys: payloadKeysOf(deps.temporal) }),
    ...createReconcileActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** Production wiring: clients and the access map from the environment, a Temporal client for signalling memberships. */
export function activityDepsFromEnv(
  env: Env,
  temporal: Client,
  clients: { kisi: KisiClient; nexudus: NexudusClient },
): ActivityDeps {
  const map = AccessMap.load(env.ACCESS_MAP);
  return {
    kisi: clients.kisi,
    nexudus: clients.nexudus,
    temporal,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    accessMap: () => map,
    sendEmails: env.KISI_SEND_EMAILS,
  };
}
