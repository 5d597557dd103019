/**
 * The custom search attributes every grant carries, defined once: workflows upsert them, the
 * dev server and the compose stack register them, the CLI and reports query them.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const NexudusCustomerId = defineSearchAttributeKey('NexudusCustomerId', SearchAttributeType.KEYWORD);
export const CustomerEmail = defineSearchAttributeKey('CustomerEmail', SearchAttributeType.KEYWORD);
/** booking | pass | contract | checkin */
export const GrantKind = defineSearchAttributeKey('GrantKind', SearchAttributeType.KEYWORD);
export const NexudusSourceId = defineSearchAttributeKey('NexudusSourceId', SearchAttributeType.KEYWORD);
export const KisiGroupIds = defineSearchAttributeKey('KisiGroupIds', SearchAttributeType.KEYWORD_LIST);
/** scheduled | granted | revoked | needs-attention | cancelled */
export const GrantState = defineSearchAttributeKey('GrantState', SearchAttributeType.KEYWORD);
export const AccessStartsAt = defineSearchAttributeKey('AccessStartsAt', SearchAttributeType.DATETIME);
export const AccessEndsAt = defineSearchAttributeKey('AccessEndsAt', SearchAttributeType.DATETIME);

export const SEARCH_ATTRIBUTE_KEYS = [
  NexudusCustomerId,
  CustomerEmail,
  GrantKind,
  NexudusSourceId,
  KisiGroupIds,
  GrantState,
  AccessStartsAt,
  AccessEndsAt,
];

/** `Name=Type` pairs as the temporal CLI takes them (`--search-attribute`, `operator search-attribute create`). */
export function searchAttributeCliPairs(): string[] {
  const cliType: Record<string, string> = {
    KEYWORD: 'Keyword',
    KEYWORD_LIST: 'KeywordList',
    DATETIME: 'Datetime',
    TEXT: 'Text',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
  };
  return SEARCH_ATTRIBUTE_KEYS.map((key) => `${key.name}=${cliType[key.type] ?? key.type}`);
}

/** The values a grant's search attributes should hold; starters set them, workflows keep them current. */
export interface GrantAttributeValues {
  customerId: string | null;
  customerEmail: string | null;
  kind: string;
  sourceId: string;
  groupIds: string[];
  state: string;
  startsAt: number | null;
  endsAt: number | null;
}

export function grantAttributeValues(
  spec: { kind: string; sourceId: number; customerId: number; customerEmail: string | null; groups: number[]; window: { from: number | null; until: number | null } | null },
  state: string,
  /** Used as AccessStartsAt when access has no start bound (a pass opens when it is held). */
  openStart: number,
): GrantAttributeValues {
  return {
    customerId: spec.customerId > 0 ? String(spec.customerId) : null, // 0: the record names no customer
    customerEmail: spec.customerEmail,
    kind: spec.kind,
    sourceId: String(spec.sourceId),
    groupIds: spec.groups.map(String),
    state,
    // A window without a start (a pass) opens when the grant began, or at its end if that is earlier.
    startsAt: spec.window ? (spec.window.from ?? Math.min(openStart, spec.window.until ?? openStart)) : null,
    endsAt: spec.window ? spec.window.until : null,
  };
}

/** Typed pairs for `typedSearchAttributes` (start) and `upsertSearchAttributes` (null unsets). */
export function grantAttributePairs(v: GrantAttributeValues) {
  return [
    { key: NexudusCustomerId, value: v.customerId },
    { key: CustomerEmail, value: v.customerEmail },
    { key: GrantKind, value: v.kind },
    { key: NexudusSourceId, value: v.sourceId },
    { key: KisiGroupIds, value: v.groupIds },
    { key: GrantState, value: v.state },
    { key: AccessStartsAt, value: v.startsAt === null ? null : new Date(v.startsAt) },
    { key: AccessEndsAt, value: v.endsAt === null ? null : new Date(v.endsAt) },
  ] as const;
}

/** Only the pairs whose value changed between two snapshots. */
export function changedAttributePairs(before: GrantAttributeValues | null, after: GrantAttributeValues) {
  const prev = before ? grantAttributePairs(before) : null;
  return grantAttributePairs(after).filter((pair, i) => {
    if (!prev) return true;
    const old = prev[i]!.value;
    const now = pair.value;
    if (Array.isArray(old) && Array.isArray(now)) return old.join(',') !== now.join(',');
    if (old instanceof Date && now instanceof Date) return old.getTime() !== now.getTime();
    return old !== now;
  });
}
