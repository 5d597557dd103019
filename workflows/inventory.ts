/**
 * inventory-<uuid>: one read of the Kisi place and the Nexudus items for the console's Setup page,
 * run by the worker because only the worker holds the Kisi key. An operator waits for it: live
 * priority, a short timeout and a few attempts, then the console says it could not read.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReadInventoryInput, ReadInventoryResult } from '../src/contract/inventory';
import { temporalPriority } from '../src/domain/lanes';

const { readInventory } = proxyActivities<Activities>({
  priority: temporalPriority('live'),
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
});

export async function readInventoryWorkflow(input: ReadInventoryInput): Promise<ReadInventoryResult> {
  return readInventory(input);
}
