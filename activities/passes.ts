/**
 * The pass watcher's activity (workflows/pass-watch.ts): one look at the passes Nexudus changed
 * since the last look, in the live lane, each brought to its grant exactly as the customer sync
 * does (activities/customers.ts `redeliver`): a pass whose grant already follows it sends nothing.
 *
 * Nexudus has no pass webhook: a pass bought at the desk surfaces only through its customer's
 * `AccessControlUpdate`, whose sync waits in the scheduled lane behind a 9:00 burst of others. This
 * look is shared by every `AccessControlUpdate` of a burst (the ingress pokes the watcher at most
 * once per 500 ms) and costs one Nexudus list plus, per changed pass, the customer (usually kept by
 * the directory) and one visibility query.
 *
 * Deleted passes do not appear in the list (Nexudus lists what exists): their grants end through
 * the customer sync, as before.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { NexudusClient } from '../src/clients/nexudus';
import type { AccessMap } from '../src/config/access-map';
import { PASS_WATCH_FIRST_LOOK_MS, PASS_WATCH_OVERLAP_MS, type RecentPassesResult } from '../src/contract/pass-watch';
import { grantWorkflowId } from '../src/domain/ids';
import { deliverSpec } from '../src/temporal/starters';
import type { SpecSource } from '../src/clients/nexudus-grant-specs';
import { compareWithGrant, wantsGrant, type RunningGrant } from '../src/reconcile/compare';
import { listRunningGrants } from '../src/reconcile/visibility';
import { activityNow } from './clock';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface PassActivityDeps {
  nexudus: Pick<NexudusClient, 'listCoworkerTimePasses'>;
  temporal: Client;
  taskQueue: string;
  kisiUsers: Pick<KisiUsers, 'directory'>;
  specs: Pick<SpecSource, 'fromPass'>;
  accessMap: () => AccessMap;
}

export interface RecentPassesInput {
  /** The mark of the last look (epoch ms); absent: a new watcher run, look back PASS_WATCH_FIRST_LOOK_MS. */
  since?: number;
}

export function createPassActivities(deps: PassActivityDeps) {
  return {
    /** Passes changed since `since` (less the overlap) to their grants; answers the new mark. */
    async deliverRecentPasses(input: RecentPassesInput): Promise<RecentPassesResult> {
      return asActivity(
        async () => {
          const readAt = activityNow();
          const since = input.since ?? readAt - PASS_WATCH_FIRST_LOOK_MS;
          const passes = await deps.nexudus.listCoworkerTimePasses({ updatedFrom: new Date(since - PASS_WATCH_OVERLAP_MS).toISOString() });
          let delivered = 0;
          let failure: unknown;
          const running = new Map<number, Map<string, RunningGrant>>();
          for (const pass of passes) {
            try {
              delivered += await settle(pass);
            } catch (error) {
              // One pass must not hold back the others: they go on, and the attempt then fails
              // (retried; the passes delivered meanwhile send nothing the next time).
              failure ??= error;
            }
            Context.current().heartbeat();
          }
          if (failure !== undefined) throw failure;
          return { checkedUpTo: readAt, listed: passes.length, delivered };

          /** 1 if the pass was delivered to its grant, 0 if its grant already follows it (or it needs none). */
          async function settle(pass: (typeof passes)[number]): Promise<number> {
            const customerId = pass.CoworkerId;
            let grants = running.get(customerId);
            if (!grants) {
              grants = await listRunningGrants(deps.temporal, deps.taskQueue, ['pass'], customerId);
              running.set(customerId, grants);
            }
            // What the pass grants does not depend on who holds it: a pass that needs no grant and
            // has none (an unmapped type, one used up) costs no customer read, which would make
            // the look, and a day pass bought meanwhile, wait for it.
            const grant = grants.get(grantWorkflowId('pass', pass.Id));
            const bare = await deps.specs.fromPass(pass);
            if (!grant && !wantsGrant(bare, activityNow())) return 0;
            // Kept, or read in the live lane (not joined to a sync's read waiting in its lane).
            const entry = await deps.kisiUsers.directory.get(customerId);
            if ('gone' in entry) return 0; // CoworkerDelete ends the customer's grants
            const spec = { ...bare, customerName: entry.facts.name, customerEmail: entry.facts.email };
            const now = activityNow();
            if (grant ? compareWithGrant(spec, grant).verdict === 'same' : !wantsGrant(spec, now)) return 0;
            await deliverSpec(deps.temporal, spec, { taskQueue: deps.taskQueue, timeZone: deps.accessMap().timeZone, now });
            return 1;
          }
        },
        { lane: 'live' },
      );
    },
  };
}
