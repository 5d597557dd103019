/**
 * The Kisi sandbox's memory: the seed format (validated with zod), the records it keeps, and the
 * serialisers that turn records into the exact objects Kisi's OpenAPI description requires (every
 * required field, nothing else). Pure data: no HTTP here.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

// ---- seed ------------------------------------------------------------------------------------

const id = z.number().int().positive();
const isoDate = z.string().refine((v) => !Number.isNaN(Date.parse(v)), { message: 'expected an ISO date-time' });

export const kisiSeedSchema = z.object({
  organization: z
    .object({ id, name: z.string().min(1), domain: z.string().min(1) })
    .default({ id: 1, name: 'Sandbox Coworking', domain: 'sandbox-coworking' }),
  /** Keys the sandbox accepts; empty or absent = any non-empty key. */
  api_keys: z.array(z.string().min(1)).default([]),
  places: z
    .array(
      z.object({
        id,
        name: z.string().min(1),
        description: z.string().nullable().default(null),
        address: z.string().default(''),
        latitude: z.number().nullable().default(null),
        longitude: z.number().nullable().default(null),
        time_zone: z.string().nullable().default(null),
      }),
    )
    .default([]),
  groups: z
    .array(
      z.object({
        id,
        name: z.string().min(1),
        description: z.string().nullable().default(null),
        place_id: id.nullable(),
        /** Managed by another administrator: this key may read it but not change its members (403). */
        restricted: z.boolean().default(false),
      }),
    )
    .default([]),
  locks: z.array(z.object({ id, name: z.string().min(1), description: z.string().nullable().default(null), place_id: id })).default([]),
  group_locks: z.array(z.object({ id: id.optional(), group_id: id, lock_id: id })).default([]),
  users: z
    .array(
      z.object({
        id,
        email: z.email(),
        name: z.string().default(''),
        metadata: z.record(z.string(), z.unknown()).default({}),
        access_enabled: z.boolean().default(true),
      }),
    )
    .default([]),
  role_assignments: z
    .array(
      z.object({
        id: id.optional(),
        user_id: id,
        group_id: id,
        role_id: z.string().default('group_basic'),
        valid_from: isoDate.nullable().default(null),
        valid_until: isoDate.nullable().default(null),
      }),
    )
    .default([]),
  cards: z.array(z.object({ id: id.optional(), token: z.string().min(1) })).default([]),
  card_assignments: z.array(z.object({ id: id.optional(), card_id: id, user_id: id })).default([]),
});
export type KisiSeed = z.input<typeof kisiSeedSchema>;
type Seed = z.output<typeof kisiSeedSchema>;

/** Reads and validates a seed file; the error names the file and each bad field. */
export function loadKisiSeed(path: string): KisiSeed {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`kisi sandbox seed ${path}: ${(e as Error).message}`);
  }
  const parsed = kisiSeedSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`kisi sandbox seed ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return raw as KisiSeed;
}

// ---- records ---------------------------------------------------------------------------------

interface Stamped { created_at: string; updated_at: string }
export interface OrgRec { id: number; name: string; domain: string }
export interface PlaceRec extends Stamped { id: number; name: string; description: string | null; address: string; latitude: number | null; longitude: number | null; time_zone: string | null }
export interface GroupRec extends Stamped { id: number; name: string; description: string | null; place_id: number | null; restricted: boolean }
export interface LockRec extends Stamped { id: number; name: string; description: string | null; place_id: number }
export interface GroupLockRec extends Stamped { id: number; group_id: number; lock_id: number }
export interface UserRec extends Stamped { id: number; email: string; name: string; metadata: Record<string, unknown>; notes: string | null; access_enabled: boolean; send_emails: boolean; confirmed: boolean; last_accessed_at: string | null }
export interface RoleAssignmentRec extends Stamped { id: number; role_id: string; user_id: number; group_id: number; notify: boolean; valid_from: string | null; valid_until: string | null }
export interface CardRec extends Stamped { id: number; token: string; uid: string; type: 'mifare_desfire' }
export interface CardAssignmentRec extends Stamped { id: number; card_id: number; user_id: number; two_factor_pin: string | null; status: 'activated' | 'deactivated' }
export interface IntegrationRec extends Stamped { id: number; name: string; type: 'event_webhook'; url: string; enabled: boolean; enabled_events: string[]; signature_key: string | null }

export type HistoryAction = 'created' | 'window_changed' | 'deleted';
export interface AssignmentHistoryEntry {
  at: string;
  action: HistoryAction;
  assignment_id: number;
  user_id: number;
  group_id: number;
  valid_from: string | null;
  valid_until: string | null;
  /** The window before a change (window_changed only). */
  previous?: { valid_from: string | null; valid_until: string | null };
}

type Collection = 'places' | 'groups' | 'locks' | 'group_locks' | 'users' | 'role_assignments' | 'cards' | 'card_assignments' | 'integrations';

export class KisiState {
  organization!: OrgRec;
  apiKeys: string[] = [];
  places = new Map<number, PlaceRec>();
  groups = new Map<number, GroupRec>();
  locks = new Map<number, LockRec>();
  groupLocks = new Map<number, GroupLockRec>();
  users = new Map<number, UserRec>();
  roleAssignments = new Map<number, RoleAssignmentRec>();
  cards = new Map<number, CardRec>();
  cardAssignments = new Map<number, CardAssignmentRec>();
  integrations = new Map<number, IntegrationRec>();
  history: AssignmentHistoryEntry[] = [];
  /** `GET /users` -> count, including answers the sandbox refused (401, 429, faults). */
  requestCounts: Record<string, number> = {};
  private nextIds: Record<Collection, number> = {} as Record<Collection, number>;

  constructor(seed: KisiSeed = {}) {
    this.load(seed);
  }

  /**
   * Replaces everything with the seed's content (ids as given). New ids continue after them and
   * after every id handed out before, as in Kisi, which never reuses one: a reset between tests
   * must not give a new user the id of an earlier test's user whose workflows may still be ending.
   */
  load(input: KisiSeed): void {
    const seed: Seed = kisiSeedSchema.parse(input);
    const now = new Date().toISOString();
    const stamp = { created_at: now, updated_at: now };
    this.organization = seed.organization;
    this.apiKeys = seed.api_keys;
    for (const map of [this.places, this.groups, this.locks, this.groupLocks, this.users, this.roleAssignments, this.cards, this.cardAssignments, this.integrations]) map.clear();
    this.history = [];
    this.requestCounts = {};
    for (const p of seed.places) this.places.set(p.id, { ...p, ...stamp });
    for (const g of seed.groups) this.groups.set(g.id, { ...g, ...stamp });
    for (const l of seed.locks) this.locks.set(l.id, { ...l, ...stamp });
    for (const u of seed.users) this.users.set(u.id, { ...u, notes: null, send_emails: false, confirmed: true, last_accessed_at: null, ...stamp });
    const after: Record<Collection, number> = {
      places: nextAfter(this.places),
      groups: nextAfter(this.groups),
      locks: nextAfter(this.locks),
      users: nextAfter(this.users),
      group_locks: nextAfter(seed.group_locks),
      role_assignments: nextAfter(seed.role_assignments),
      cards: nextAfter(seed.cards),
      card_assignments: nextAfter(seed.card_assignments),
      integrations: 1,
    };
    for (const collection of Object.keys(after) as Collection[]) after[collection] = Math.max(after[collection], this.nextIds[collection] ?? 1);
    this.nextIds = after;
    for (const gl of seed.group_locks) {
      const glId = gl.id ?? this.nextId('group_locks');
      this.groupLocks.set(glId, { id: glId, group_id: gl.group_id, lock_id: gl.lock_id, ...stamp });
    }
    for (const ra of seed.role_assignments) {
      const raId = ra.id ?? this.nextId('role_assignments');
      this.roleAssignments.set(raId, { id: raId, role_id: ra.role_id, user_id: ra.user_id, group_id: ra.group_id, notify: false, valid_from: normalizeDate(ra.valid_from), valid_until: normalizeDate(ra.valid_until), ...stamp });
    }
    for (const c of seed.cards) {
      const cId = c.id ?? this.nextId('cards');
      this.cards.set(cId, { id: cId, token: c.token, uid: newUid(), type: 'mifare_desfire', ...stamp });
    }
    for (const ca of seed.card_assignments) {
      const caId = ca.id ?? this.nextId('card_assignments');
      this.cardAssignments.set(caId, { id: caId, card_id: ca.card_id, user_id: ca.user_id, two_factor_pin: null, status: 'activated', ...stamp });
    }
    this.checkReferences();
  }

  nextId(collection: Collection): number {
    const next = this.nextIds[collection];
    this.nextIds[collection] = next + 1;
    return next;
  }

  /** Records an assignment change with the time it happened. */
  log(action: HistoryAction, ra: RoleAssignmentRec, previous?: { valid_from: string | null; valid_until: string | null }): void {
    this.history.push({ at: new Date().toISOString(), action, assignment_id: ra.id, user_id: ra.user_id, group_id: ra.group_id, valid_from: ra.valid_from, valid_until: ra.valid_until, ...(previous ? { previous } : {}) });
  }

  countRequest(key: string): void {
    this.requestCounts[key] = (this.requestCounts[key] ?? 0) + 1;
  }

  /** A seed whose links point nowhere would make every answer about it wrong: fail at load. */
  private checkReferences(): void {
    const problems: string[] = [];
    for (const g of this.groups.values()) if (g.place_id !== null && !this.places.has(g.place_id)) problems.push(`group ${g.id}: unknown place ${g.place_id}`);
    for (const l of this.locks.values()) if (!this.places.has(l.place_id)) problems.push(`lock ${l.id}: unknown place ${l.place_id}`);
    for (const gl of this.groupLocks.values()) {
      if (!this.groups.has(gl.group_id)) problems.push(`group_lock ${gl.id}: unknown group ${gl.group_id}`);
      if (!this.locks.has(gl.lock_id)) problems.push(`group_lock ${gl.id}: unknown lock ${gl.lock_id}`);
    }
    for (const ra of this.roleAssignments.values()) {
      if (!this.users.has(ra.user_id)) problems.push(`role_assignment ${ra.id}: unknown user ${ra.user_id}`);
      if (!this.groups.has(ra.group_id)) problems.push(`role_assignment ${ra.id}: unknown group ${ra.group_id}`);
    }
    for (const ca of this.cardAssignments.values()) {
      if (!this.users.has(ca.user_id)) problems.push(`card_assignment ${ca.id}: unknown user ${ca.user_id}`);
      if (!this.cards.has(ca.card_id)) problems.push(`card_assignment ${ca.id}: unknown card ${ca.card_id}`);
    }
    // Kisi's uniqueness rules hold for seeded records too (the API refuses to create what breaks them).
    problems.push(
      ...duplicates([...this.users.values()], (u) => u.email.trim().toLowerCase(), (u, first) => `user ${u.id}: email ${u.email} is already taken by user ${first.id}`),
      ...duplicates([...this.cards.values()], (c) => c.token, (c, first) => `card ${c.id}: token already taken by card ${first.id}`),
      ...duplicates([...this.cardAssignments.values()], (ca) => ca.card_id, (ca, first) => `card_assignment ${ca.id}: card ${ca.card_id} is already assigned (card_assignment ${first.id})`),
    );
    if (problems.length > 0) throw new Error(`kisi sandbox seed: ${problems.join('; ')}`);
  }
}

/** One message per record whose key an earlier record already has. */
function duplicates<T>(items: T[], key: (item: T) => unknown, message: (item: T, first: T) => string): string[] {
  const seen = new Map<unknown, T>();
  const out: string[] = [];
  for (const item of items) {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, item);
    else out.push(message(item, first));
  }
  return out;
}

function nextAfter(items: Map<number, unknown> | { id?: number }[]): number {
  const ids = items instanceof Map ? [...items.keys()] : items.map((i) => i.id ?? 0);
  return Math.max(0, ...ids) + 1;
}

/** Kisi answers dates in UTC with milliseconds; store them that way so answers look like Kisi's. */
export function normalizeDate(value: string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

/** A 14-hex-digit card UID, the shape Kisi's DESFire cards carry. */
export function newUid(): string {
  return randomBytes(7).toString('hex').toUpperCase();
}

// ---- membership -----------------------------------------------------------------------------

/** True when an assignment of the user to the group exists and `instant` lies inside its window. */
export function isMemberAt(state: KisiState, userId: number, groupId: number, instant: Date | string | number): boolean {
  const t = new Date(instant).getTime();
  for (const ra of state.roleAssignments.values()) {
    if (ra.user_id !== userId || ra.group_id !== groupId) continue;
    if (isValidAt(ra, t)) return true;
  }
  return false;
}

export function isValidAt(ra: { valid_from: string | null; valid_until: string | null }, t: number): boolean {
  if (ra.valid_from !== null && t < Date.parse(ra.valid_from)) return false;
  if (ra.valid_until !== null && t >= Date.parse(ra.valid_until)) return false;
  return true;
}

// ---- serialisers: exactly the objects the spec requires --------------------------------------

export function serializeUser(s: KisiState, u: UserRec): Record<string, unknown> {
  return {
    id: u.id,
    resource_type: 'User',
    name: u.name,
    email: u.email,
    created_at: u.created_at,
    updated_at: u.updated_at,
    metadata: u.metadata,
    image: null,
    otp_required_for_login: false,
    password_flow_enabled: false,
    access_enabled: u.access_enabled,
    last_accessed_at: u.last_accessed_at,
    scim_access_enabled: true,
    notes: u.notes,
    organization_id: s.organization.id,
    confirmed: u.confirmed,
    groups_count: new Set([...s.roleAssignments.values()].filter((ra) => ra.user_id === u.id).map((ra) => ra.group_id)).size,
  };
}

export function serializePlace(s: KisiState, p: PlaceRec): Record<string, unknown> {
  return {
    id: p.id,
    resource_type: 'Place',
    name: p.name,
    description: p.description,
    created_at: p.created_at,
    updated_at: p.updated_at,
    latitude: p.latitude,
    longitude: p.longitude,
    address: p.address,
    image: null,
    time_zone: p.time_zone,
    tz_time_zone: p.time_zone,
    locks_count: [...s.locks.values()].filter((l) => l.place_id === p.id).length,
    integrations_count: 0,
    locked_down: false,
    locked_down_since: null,
    occupancy_rate: null,
    organization_id: s.organization.id,
    organization: { id: s.organization.id, resource_type: 'Organization', name: s.organization.name, domain: s.organization.domain },
    color: null,
    logo: null,
    user_id: null,
    members_count: new Set(
      [...s.roleAssignments.values()].filter((ra) => s.groups.get(ra.group_id)?.place_id === p.id).map((ra) => ra.user_id),
    ).size,
  };
}

export function serializeGroup(s: KisiState, g: GroupRec): Record<string, unknown> {
  const users = new Set([...s.roleAssignments.values()].filter((ra) => ra.group_id === g.id).map((ra) => ra.user_id)).size;
  const place = g.place_id === null ? undefined : s.places.get(g.place_id);
  return {
    id: g.id,
    resource_type: 'Group',
    name: g.name,
    description: g.description,
    created_at: g.created_at,
    updated_at: g.updated_at,
    geofence_restriction_enabled: false,
    geofence_restriction_radius: 0,
    primary_device_restriction_enabled: false,
    managed_device_restriction_enabled: false,
    reader_restriction_enabled: false,
    time_restriction_enabled: false,
    tap_to_access_restriction_enabled: false,
    login_enabled: true,
    users_count: users,
    locks_count: [...s.groupLocks.values()].filter((gl) => gl.group_id === g.id).length,
    elevator_stops_count: 0,
    place_id: g.place_id,
    ...(place ? { place: { id: place.id, resource_type: 'Place', name: place.name } } : {}),
    time_restriction_time_zone: null,
    members_count: users,
  };
}

export function serializeLock(s: KisiState, l: LockRec): Record<string, unknown> {
  const place = s.places.get(l.place_id)!;
  return {
    id: l.id,
    resource_type: 'Lock',
    created_at: l.created_at,
    updated_at: l.updated_at,
    configured: true,
    description: l.description,
    first_to_arrive_required_until: null,
    first_to_arrive_satisfied: false,
    latitude: place.latitude,
    locked_down: false,
    locked_down_since: null,
    longitude: place.longitude,
    name: l.name,
    on_scheduled_unlock: false,
    online: true,
    open: false,
    order_id: null,
    unlocked: false,
    geofence_restriction_enabled: false,
    geofence_restriction_radius: 0,
    reader_restriction_enabled: false,
    time_restriction_enabled: false,
    time_restriction_time_zone: null,
    place_id: l.place_id,
    place: { id: place.id, name: place.name, latitude: place.latitude, longitude: place.longitude },
    floor_id: null,
    groups_count: [...s.groupLocks.values()].filter((gl) => gl.lock_id === l.id).length,
    unlocked_until: null,
  };
}

export function serializeGroupLock(s: KisiState, gl: GroupLockRec): Record<string, unknown> {
  const group = s.groups.get(gl.group_id)!;
  const lock = s.locks.get(gl.lock_id)!;
  const place = s.places.get(lock.place_id)!;
  return {
    id: gl.id,
    resource_type: 'GroupLock',
    created_at: gl.created_at,
    updated_at: gl.updated_at,
    group_id: group.id,
    group: { id: group.id, resource_type: 'Group', name: group.name },
    lock_id: lock.id,
    lock: { id: lock.id, description: lock.description, name: lock.name },
    place_id: place.id,
    place: { id: place.id, resource_type: 'Place', name: place.name },
  };
}

export function serializeRoleAssignment(s: KisiState, ra: RoleAssignmentRec): Record<string, unknown> {
  const group = s.groups.get(ra.group_id);
  const user = s.users.get(ra.user_id);
  const groupRef = { id: ra.group_id, resource_type: 'Group', name: group?.name ?? '' };
  const userRef = { id: ra.user_id, resource_type: 'User', email: user?.email ?? '', name: user?.name ?? '' };
  return {
    id: ra.id,
    resource_type: 'RoleAssignment',
    created_at: ra.created_at,
    updated_at: ra.updated_at,
    role_id: ra.role_id,
    notify: ra.notify,
    applies_to_type: 'Group',
    applies_to_id: ra.group_id,
    applies_to: groupRef,
    assignee_type: 'User',
    assignee_id: ra.user_id,
    assignee: userRef,
    created_by_type: null,
    created_by_id: null,
    // The deprecated mirrors are still sent by Kisi (and required by the spec).
    user_id: ra.user_id,
    user: userRef,
    assignee_team_id: null,
    guest_id: null,
    issued_by_id: null,
    type: 'group',
    scope: 'group',
    group_id: ra.group_id,
    group: groupRef,
    valid_from: ra.valid_from,
    valid_until: ra.valid_until,
  };
}

export function serializeCard(s: KisiState, c: CardRec): Record<string, unknown> {
  const assignment = [...s.cardAssignments.values()].find((ca) => ca.card_id === c.id && ca.status === 'activated');
  return {
    id: c.id,
    last_used_at: null,
    created_at: c.created_at,
    updated_at: c.updated_at,
    assigned: assignment !== undefined,
    assigned_at: assignment?.created_at ?? null,
    activated_at: assignment?.created_at ?? null,
    deactivated_at: null,
    activated: assignment !== undefined,
    assigned_by_id: null,
    user_id: assignment?.user_id ?? null,
    token: c.token,
    uid: c.uid,
    type: c.type,
    model: 'card-white-2.0',
    frequency: 'HF',
    color: 'white',
    form_factor: 'card',
    third_party: false,
  };
}

export function serializeCardAssignment(_s: KisiState, ca: CardAssignmentRec): Record<string, unknown> {
  return {
    id: ca.id,
    resource_type: 'CardAssignment',
    created_at: ca.created_at,
    updated_at: ca.updated_at,
    status: ca.status,
    two_factor_pin: ca.two_factor_pin,
    send_two_factor_pin_notification: false,
    assignee_type: 'User',
    assignee_id: ca.user_id,
    card_id: ca.card_id,
    created_by_type: null,
    created_by_id: null,
    guest_id: null,
    user_id: ca.user_id,
  };
}

export function serializeIntegration(s: KisiState, i: IntegrationRec): Record<string, unknown> {
  return {
    id: i.id,
    resource_type: 'Integration',
    name: i.name,
    type: i.type,
    enabled: i.enabled,
    disabled_due_to_error: false,
    disabled_due_to_error_at: null,
    created_at: i.created_at,
    updated_at: i.updated_at,
    organization_id: s.organization.id,
    organization: { id: s.organization.id, resource_type: 'Organization', name: s.organization.name, domain: s.organization.domain },
    place_id: null,
    url: i.url,
    enabled_events: i.enabled_events,
  };
}
