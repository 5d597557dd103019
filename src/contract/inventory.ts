/**
 * The inventory workflow's contract: `inventory-<uuid>`, started by the console (the ingress holds
 * no Kisi key, so the worker reads Kisi and Nexudus for it) and finished within seconds. Its result
 * is the place's groups, locks and which locks each group opens, and the Nexudus items and
 * businesses, as a JSON-safe snapshot. Workflow-safe.
 */
import type { InventorySnapshot } from '../domain/inventory';

export const READ_INVENTORY_WORKFLOW_TYPE = 'readInventoryWorkflow';

export interface ReadInventoryInput {
  /** The Kisi place to read (the map's kisiPlaceId). */
  placeId: number;
  /** Groups and locks the map names: those outside the place are looked up by id. */
  groupIds: number[];
  lockIds: number[];
}

export type ReadInventoryResult = InventorySnapshot;

export function inventoryWorkflowId(uuid: string): string {
  return `inventory-${uuid}`;
}
