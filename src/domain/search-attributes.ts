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
