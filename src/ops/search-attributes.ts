/**
 * Registers the product's custom search attributes (src/domain/search-attributes.ts) on a
 * Temporal cluster through the OperatorService: what `npm run register-search-attributes` does
 * for a self-hosted cluster. The dev server registers them itself at start (src/temporal/dev-server.ts)
 * and the compose stack with `temporal operator search-attribute create` (deploy/temporal/).
 *
 * Idempotent: attributes already registered with the same type are left alone. An attribute
 * registered with another type is a conflict the operator must resolve (Temporal cannot change
 * a type in place); it is reported before anything is added, so a run never half-applies.
 */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_KEYS } from '../domain/search-attributes';

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** The CLI's name of a type (`Keyword`, `KeywordList`, `Datetime`...), for messages. */
export function typeName(type: IndexedValueType | number): string {
  const raw = IndexedValueType[type] ?? `type ${type}`;
  const names: Record<string, string> = {
    INDEXED_VALUE_TYPE_KEYWORD: 'Keyword',
    INDEXED_VALUE_TYPE_KEYWORD_LIST: 'KeywordList',
    INDEXED_VALUE_TYPE_DATETIME: 'Datetime',
    INDEXED_VALUE_TYPE_TEXT: 'Text',
    INDEXED_VALUE_TYPE_INT: 'Int',
    INDEXED_VALUE_TYPE_DOUBLE: 'Double',
    INDEXED_VALUE_TYPE_BOOL: 'Bool',
  };
  return names[raw] ?? raw;
}

/** The attributes the product needs, as OperatorService types. */
export function wantedSearchAttributes(): Record<string, IndexedValueType> {
  return Object.fromEntries(
    SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}` as keyof typeof IndexedValueType] as IndexedValueType]),
  );
}

export class SearchAttributeConflictError extends Error {
  constructor(
    readonly namespace: string,
    readonly conflicts: Array<{ name: string; registered: string; wanted: string }>,
  ) {
    super(
      `search attributes registered with another type in namespace ${namespace}:\n` +
        conflicts.map((c) => `  ${c.name}: registered as ${c.registered}, this product needs ${c.wanted}`).join('\n') +
        '\nTemporal cannot change the type of an attribute; remove it (temporal operator search-attribute remove) or use another namespace, then run again.',
    );
    this.name = 'SearchAttributeConflictError';
  }
}

export interface RegistrationResult {
  namespace: string;
  created: string[];
  alreadyRegistered: string[];
}

type OperatorConnection = Pick<Connection, 'operatorService'>;

export async function registerSearchAttributes(connection: OperatorConnection, namespace: string): Promise<RegistrationResult> {
  const wanted = wantedSearchAttributes();
  const existing = await registeredAttributes(connection, namespace);

  const conflicts = Object.entries(wanted)
    .filter(([name, type]) => existing[name] !== undefined && existing[name] !== type)
    .map(([name, type]) => ({ name, registered: typeName(existing[name]!), wanted: typeName(type) }));
  if (conflicts.length > 0) throw new SearchAttributeConflictError(namespace, conflicts);

  const missing = Object.fromEntries(Object.entries(wanted).filter(([name]) => existing[name] === undefined));
  const alreadyRegistered = Object.keys(wanted).filter((name) => existing[name] !== undefined);
  if (Object.keys(missing).length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    // Another run may have raced us to it (or the server mapped a type): trust only what it now says.
    const after = await registeredAttributes(connection, namespace);
    const wrong = Object.entries(missing)
      .filter(([name, type]) => after[name] !== type)
      .map(([name, type]) => ({ name, registered: after[name] === undefined ? 'missing' : typeName(after[name]), wanted: typeName(type) }));
    if (wrong.length > 0) throw new SearchAttributeConflictError(namespace, wrong);
  }
  return { namespace, created: Object.keys(missing), alreadyRegistered };
}

async function registeredAttributes(connection: OperatorConnection, namespace: string): Promise<Record<string, IndexedValueType>> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  return (listed.customAttributes ?? {}) as Record<string, IndexedValueType>;
}
