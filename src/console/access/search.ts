/**
 * Access now's search, read from the query string with zod: customer (a Nexudus id, or a name),
 * email, a Nexudus item (room, desk, office or pass of the access map), a Kisi group and a state.
 * Every field is optional; a bad value is answered with the form and what is wrong, no query sent.
 */
import { z } from 'zod';
import { GRANT_STATES, type GrantState } from '../../contract/grant';
import type { GrantListFilter } from '../../temporal/visibility-queries';
import type { ItemOption } from './names';

/** The default: grants that can open or are about to (not suspended, revoked or cancelled). */
export const ACTIVE_STATES: readonly GrantState[] = ['granted', 'scheduled', 'needs-attention'];
export const STATE_CHOICES = ['active', 'any', ...GRANT_STATES] as const;
export type StateChoice = (typeof STATE_CHOICES)[number];

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v);

export const accessSearchSchema = z.object({
  customer: z.preprocess(blankToUndefined, z.string().max(100, { message: 'at most 100 characters' }).optional()),
  email: z.preprocess(blankToUndefined, z.email({ message: 'expected an email address' }).max(254).optional()),
  item: z.preprocess(blankToUndefined, z.string().regex(/^(resources|floorPlanItems|passes):\d+$/, { message: 'expected an item of the access map' }).optional()),
  group: z.preprocess(blankToUndefined, z.coerce.number({ message: 'expected a Kisi group id' }).int().positive({ message: 'expected a Kisi group id' }).optional()),
  state: z.preprocess(blankToUndefined, z.enum(STATE_CHOICES, { message: `expected one of ${STATE_CHOICES.join(', ')}` }).default('active')),
});

export type AccessSearch = z.output<typeof accessSearchSchema>;

export type ParsedSearch =
  | { ok: true; search: AccessSearch; filter: SearchFilter }
  | { ok: false; problems: string[]; raw: Record<string, string> };

/** What the search asks of visibility, and what it can only check on the rows read (a name). */
export interface SearchFilter {
  list: Pick<GrantListFilter, 'customerId' | 'states' | 'groupIds'> & { email?: string };
  /** A customer's name: matched on the grants read (visibility does not hold names). */
  name?: string;
  /** The item asked for, and the groups the access map links it to. */
  item?: ItemOption;
}

export function parseAccessSearch(query: unknown, items: readonly ItemOption[]): ParsedSearch {
  const raw = rawFields(query);
  const parsed = accessSearchSchema.safeParse(query);
  if (!parsed.success) return { ok: false, raw, problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'search'}: ${i.message}`) };
  const search = parsed.data;
  let item: ItemOption | undefined;
  if (search.item !== undefined) {
    item = items.find((i) => i.value === search.item);
    if (!item) return { ok: false, raw, problems: ['item: not in the access map (it may have been removed from it)'] };
  }
  const groupIds = [...new Set([...(item?.groups ?? []), ...(search.group !== undefined ? [search.group] : [])])].sort((a, b) => a - b);
  const byId = search.customer !== undefined && /^\d+$/.test(search.customer);
  return {
    ok: true,
    search,
    filter: {
      list: {
        customerId: byId ? Number(search.customer) : undefined,
        email: search.email,
        groupIds: groupIds.length ? groupIds : undefined,
        states: search.state === 'any' ? undefined : search.state === 'active' ? ACTIVE_STATES : [search.state],
      },
      name: search.customer !== undefined && !byId ? search.customer : undefined,
      item,
    },
  };
}

/** The fields as typed, to show them again beside what is wrong. */
function rawFields(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (query && typeof query === 'object') {
    for (const key of ['customer', 'email', 'item', 'group', 'state']) {
      const v = (query as Record<string, unknown>)[key];
      if (typeof v === 'string') out[key] = v;
    }
  }
  return out;
}
