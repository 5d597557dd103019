/**
 * The console's inventory comes from the worker (the ingress holds no Kisi key): a real workflow
 * and activity against the sandboxes, reused for a minute, one read at a time.
 */
import { InventorySource } from '../../src/console/inventory';
import { IngressHarness, GROUP_ROOM_THAMES, ROOM_THAMES } from '../ingress/harness';

let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start();
});
afterAll(() => h?.close());

test('the worker reads the Kisi place and the Nexudus items for the console; a second page reuses the read', async () => {
  const source = new InventorySource({ client: h.client, taskQueue: h.taskQueue, accessMap: () => h.map });
  const [first, shared] = await Promise.all([source.get(), source.get()]);
  expect(shared).toBe(first);
  expect(first.kisi.placeId).toBe(h.map.toJSON().kisiPlaceId);
  const group = first.kisi.groups.find((g) => g.id === GROUP_ROOM_THAMES);
  expect(group?.name).toBe(h.kisi.state.groups.get(GROUP_ROOM_THAMES)?.name);
  expect(first.kisi.groupLocks?.get(GROUP_ROOM_THAMES)).toBeDefined();
  expect(first.nexudus.items.find((i) => i.table === 'resources' && i.id === ROOM_THAMES)).toBeDefined();

  const workflows = async () => {
    let n = 0;
    for await (const _ of h.client.workflow.list({ query: `WorkflowType = "readInventoryWorkflow" AND TaskQueue = "${h.taskQueue}"` })) n++;
    return n;
  };
  expect(await source.get()).toBe(first);
  await source.get({ fresh: true });
  // Visibility is eventually consistent: wait for both runs to be listed.
  for (let i = 0; i < 50 && (await workflows()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
  expect(await workflows()).toBe(2);
});
