/**
 * eWebhookAction as the sandbox knows it: the product's own table (WEBHOOK_ACTION_IDS) plus the
 * actions the sandbox fires that the product does not subscribe to (check-ins). Numbers from
 * developers.nexudus.com (sys/webhooks, eWebhookAction).
 */
import { WEBHOOK_ACTION_IDS } from '../../../src/domain/nexudus-entities';

export const SANDBOX_ACTION_IDS: Record<string, number> = {
  ...WEBHOOK_ACTION_IDS,
  CoworkerCheckout: 35,
  CoworkerCheckin: 36,
  CoworkerCheckinFailed: 37,
  CheckinCreated: 47,
  CheckinUpdated: 48,
  CheckinDeleted: 49,
  TeamCreated: 57,
  TeamUpdated: 58,
  TeamDeleted: 59,
  FailedCheckin: 63,
  CoworkerProductCreate: 68,
  CoworkerProductUpdate: 69,
  CoworkerProductDelete: 70,
  FloorPlanDeskCreate: 71,
  FloorPlanDeskDelete: 72,
  FloorPlanDeskUpdate: 73,
  TariffCreate: 74,
  TariffDelete: 75,
  TariffUpdate: 76,
};

const NAMES_BY_ID = new Map(Object.entries(SANDBOX_ACTION_IDS).map(([name, id]) => [id, name]));

/** Accepts a numeric id or a name (case-insensitive); undefined when unknown. */
export function actionId(action: number | string): number | undefined {
  if (typeof action === 'number') return NAMES_BY_ID.has(action) ? action : undefined;
  if (/^\d+$/.test(action)) return actionId(Number(action));
  const key = Object.keys(SANDBOX_ACTION_IDS).find((name) => name.toLowerCase() === action.toLowerCase());
  return key === undefined ? undefined : SANDBOX_ACTION_IDS[key];
}

export function actionName(id: number): string {
  return NAMES_BY_ID.get(id) ?? String(id);
}
