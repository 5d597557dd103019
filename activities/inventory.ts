/**
 * The console's inventory read (workflows/inventory.ts): the same read `npm run access-map` makes
 * (src/link/inventory.ts), with the locks each group opens, through the worker's own clients and
 * request gates (an operator's page: the live lane).
 */
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import type { ReadInventoryInput, ReadInventoryResult } from '../src/contract/inventory';
import { toSnapshot } from '../src/domain/inventory';
import { readKisi, readNexudus } from '../src/link/inventory';
import { asActivity } from './failures';

export function createInventoryActivities(deps: { kisi: KisiClient; nexudus: NexudusClient }) {
  return {
    readInventory(input: ReadInventoryInput): Promise<ReadInventoryResult> {
      return asActivity(async () => {
        const kisi = await readKisi(deps.kisi, { placeId: input.placeId, groupIds: input.groupIds, lockIds: input.lockIds, withGroupLocks: true });
        const nexudus = await readNexudus(deps.nexudus);
        return toSnapshot({ kisi, nexudus });
      }, { lane: 'live' });
    },
  };
}
