/**
 * The Kisi place and the Nexudus items as the console shows them (Setup's lists, group and door
 * names on every page), read by the worker (workflows/inventory.ts: the ingress holds no Kisi
 * key) and kept here for a minute. One read at a time: pages that ask while one runs share it.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { AccessMap } from '../config/access-map';
import type { MapData } from '../link/check';
import { inventoryWorkflowId, READ_INVENTORY_WORKFLOW_TYPE, type ReadInventoryInput, type ReadInventoryResult } from '../contract/inventory';
import { fromSnapshot, type Inventory } from '../domain/inventory';
import { temporalPriority } from '../domain/lanes';

export interface InventorySourceOptions {
  client: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  /** How long a read is reused (ms, default a minute). */
  cacheMs?: number;
  /** How long the console waits for the worker (ms, default 30 s). */
  timeoutMs?: number;
}

export class InventorySource {
  private cached: { at: number; key: string; inventory: Inventory } | undefined;
  private inFlight: { key: string; promise: Promise<Inventory> } | undefined;

  constructor(private readonly options: InventorySourceOptions) {}

  /**
   * The inventory for the map in force (or for `map`, a map being edited: its groups and locks
   * outside the place are looked up too): the cached one when fresh, else a new read.
   */
  get(options: { fresh?: boolean; map?: MapData } = {}): Promise<Inventory> {
    const input = this.input(options.map);
    const key = JSON.stringify(input);
    const cacheMs = this.options.cacheMs ?? 60_000;
    if (!options.fresh && this.cached && this.cached.key === key && Date.now() - this.cached.at < cacheMs) return Promise.resolve(this.cached.inventory);
    if (this.inFlight?.key === key) return this.inFlight.promise;
    const promise = this.read(input).then(
      (inventory) => {
        this.cached = { at: Date.now(), key, inventory };
        return inventory;
      },
    ).finally(() => {
      if (this.inFlight?.promise === promise) this.inFlight = undefined;
    });
    this.inFlight = { key, promise };
    return promise;
  }

  private input(edited?: MapData): ReadInventoryInput {
    const map = edited ?? this.options.accessMap().toJSON();
    const groupIds = new Set<number>();
    for (const table of [map.passes, map.resources, map.floorPlanItems]) for (const rule of Object.values(table ?? {})) for (const g of rule.groups) groupIds.add(g);
    return { placeId: map.kisiPlaceId, groupIds: [...groupIds].sort((a, b) => a - b), lockIds: Object.keys(map.doors ?? {}).map(Number).sort((a, b) => a - b) };
  }

  private async read(input: ReadInventoryInput): Promise<Inventory> {
    const snapshot = await this.options.client.workflow.execute<(input: ReadInventoryInput) => Promise<ReadInventoryResult>>(READ_INVENTORY_WORKFLOW_TYPE, {
      workflowId: inventoryWorkflowId(randomUUID()),
      taskQueue: this.options.taskQueue,
      args: [input],
      workflowExecutionTimeout: this.options.timeoutMs ?? 30_000,
      priority: temporalPriority('live'),
    });
    return fromSnapshot(snapshot);
  }
}

/** An inventory read as a page uses it: the inventory, or why the page shows ids instead. */
export type InventoryRead = { inventory: Inventory; problem?: undefined } | { inventory?: undefined; problem: string };

/**
 * Waits for a read at most `waitMs` (no worker, Kisi down: a page must not hang on it). A read that
 * takes longer goes on, and the source keeps its answer for the next page.
 */
export async function inventoryWithin(read: Promise<Inventory>, waitMs: number): Promise<InventoryRead> {
  read.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the worker did not answer within ${Math.round(waitMs / 1000)} s`)), waitMs);
  });
  try {
    return { inventory: await Promise.race([read, late]) };
  } catch (error) {
    return { problem: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
