/**
 * The Kisi API routes of the sandbox: same paths, filters, bodies, status codes, error bodies and
 * paging headers as Kisi's OpenAPI description (test/contract/kisi-openapi/). Request bodies are
 * read with zod; what Kisi would refuse becomes a 422 `{errors: {field: [msg]}}`, unknown ids a 404
 * `{error, code}`. The error codes are the sandbox's own (Kisi does not publish its list).
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import {
  type CardAssignmentRec,
  type KisiState,
  type RoleAssignmentRec,
  newUid,
  normalizeDate,
  serializeCard,
  serializeCardAssignment,
  serializeGroup,
  serializeGroupLock,
  serializeIntegration,
  serializeLock,
  serializePlace,
  serializeRoleAssignment,
  serializeUser,
} from './kisi-state';

export const KISI_ERROR_CODES = {
  unauthorized: 'sbx401',
  forbidden: 'sbx403',
  notFound: 'sbx404',
  badRequest: 'sbx400',
  tooManyRequests: 'sbx429',
  serverError: 'sbx500',
} as const;

export function kisiError(message: string, code: string): { error: string; code: string } {
  return { error: message, code };
}

export interface KisiApiOptions {
  /** 'allow' keeps a second assignment of one user to one group (so tests can see duplicates). */
  duplicateAssignments: 'allow' | 'reject';
}

/** Roles a user can hold on a group. */
const GROUP_ROLES = ['group_basic', 'group_manager'];
const MAX_OFFSET = 20_000;

export function kisiApiRouter(state: () => KisiState, options: () => KisiApiOptions): Router {
  const r = Router();

  // ---- users ---------------------------------------------------------------------------------
  r.get('/users', (req, res) => {
    const s = state();
    let users = [...s.users.values()];
    const email = str(req, 'email');
    if (email !== undefined) users = users.filter((u) => u.email.toLowerCase() === email.trim().toLowerCase());
    const query = str(req, 'query')?.toLowerCase();
    if (query) users = users.filter((u) => [u.email, u.name, u.notes ?? ''].some((f) => f.toLowerCase().includes(query)));
    const ids = idList(req, 'ids');
    if (ids) users = users.filter((u) => ids.has(u.id));
    const userId = int(req, 'user_id');
    if (userId !== undefined) users = users.filter((u) => u.id === userId);
    const groupId = int(req, 'group_id');
    if (groupId !== undefined) users = users.filter((u) => [...s.roleAssignments.values()].some((ra) => ra.user_id === u.id && ra.group_id === groupId));
    const placeId = int(req, 'place_id');
    if (placeId !== undefined) users = users.filter((u) => [...s.roleAssignments.values()].some((ra) => ra.user_id === u.id && s.groups.get(ra.group_id)?.place_id === placeId));
    page(req, res, users.map((u) => serializeUser(s, u)), 50, 100);
  });

  r.get('/users/:id', (req, res) => {
    const s = state();
    const user = s.users.get(pathId(req));
    if (!user) return notFound(res, 'User');
    res.status(200).json(serializeUser(s, user));
  });

  r.post('/users', (req, res) => {
    const s = state();
    const body = parse(res, userCreateSchema, req.body, 'user');
    if (!body) return;
    const u = body.user;
    const email = u.email.trim();
    if ([...s.users.values()].some((x) => x.email.toLowerCase() === email.toLowerCase())) {
      return unprocessable(res, { email: ['has already been taken'] });
    }
    const now = new Date().toISOString();
    const user = {
      id: s.nextId('users'),
      email,
      name: u.name ?? '',
      metadata: u.metadata ?? {},
      notes: u.notes ?? null,
      access_enabled: u.access_enabled ?? true,
      send_emails: u.send_emails ?? true,
      confirmed: u.confirm ?? false,
      last_accessed_at: null,
      created_at: now,
      updated_at: now,
    };
    s.users.set(user.id, user);
    res.status(200).json(serializeUser(s, user));
  });

  r.patch('/users/:id', (req, res) => {
    const s = state();
    const user = s.users.get(pathId(req));
    if (!user) return notFound(res, 'User');
    // Kisi's PATCH body has no `email`: a user's email is fixed at creation (a new email needs a
    // new user). Kisi may silently drop the field (UNVERIFIED); the sandbox refuses it loudly, and
    // changes nothing else of that request, so a client relying on an email change fails in tests.
    const sent = (req.body as { user?: unknown } | undefined)?.user;
    if (sent && typeof sent === 'object' && 'email' in sent) return unprocessable(res, { email: ['cannot be changed'] });
    const body = parse(res, userUpdateSchema, req.body, 'user');
    if (!body) return;
    const u = body.user;
    if (u.name !== undefined) user.name = u.name;
    if (u.metadata !== undefined) user.metadata = u.metadata;
    if (u.notes !== undefined) user.notes = u.notes;
    if (u.access_enabled !== undefined) user.access_enabled = u.access_enabled;
    user.updated_at = new Date().toISOString();
    res.status(204).end();
  });

  // ---- places, groups, locks -----------------------------------------------------------------
  r.get('/places', (req, res) => {
    const s = state();
    let places = [...s.places.values()];
    const ids = idList(req, 'ids');
    if (ids) places = places.filter((p) => ids.has(p.id));
    const query = str(req, 'query')?.toLowerCase();
    if (query) places = places.filter((p) => p.name.toLowerCase().includes(query));
    page(req, res, places.map((p) => serializePlace(s, p)), 50, 250);
  });

  r.get('/places/:id', (req, res) => {
    const s = state();
    const place = s.places.get(pathId(req));
    if (!place) return notFound(res, 'Place');
    res.status(200).json(serializePlace(s, place));
  });

  r.get('/groups', (req, res) => {
    const s = state();
    let groups = [...s.groups.values()];
    const ids = idList(req, 'ids');
    if (ids) groups = groups.filter((g) => ids.has(g.id));
    const placeId = int(req, 'place_id');
    if (placeId !== undefined) groups = groups.filter((g) => g.place_id === placeId);
    const scope = str(req, 'scope');
    if (scope === 'organization') groups = groups.filter((g) => g.place_id === null);
    if (scope === 'place') groups = groups.filter((g) => g.place_id !== null);
    const lockId = int(req, 'lock_id');
    if (lockId !== undefined) groups = groups.filter((g) => [...s.groupLocks.values()].some((gl) => gl.group_id === g.id && gl.lock_id === lockId));
    const query = str(req, 'query')?.toLowerCase();
    if (query) groups = groups.filter((g) => g.name.toLowerCase().includes(query));
    page(req, res, groups.map((g) => serializeGroup(s, g)), 10, 250);
  });

  r.get('/groups/:id', (req, res) => {
    const s = state();
    const group = s.groups.get(pathId(req));
    if (!group) return notFound(res, 'Group');
    res.status(200).json(serializeGroup(s, group));
  });

  r.get('/locks', (req, res) => {
    const s = state();
    let locks = [...s.locks.values()];
    const ids = idList(req, 'ids');
    if (ids) locks = locks.filter((l) => ids.has(l.id));
    const placeId = int(req, 'place_id');
    if (placeId !== undefined) locks = locks.filter((l) => l.place_id === placeId);
    const query = str(req, 'query')?.toLowerCase();
    if (query) locks = locks.filter((l) => l.name.toLowerCase().includes(query));
    page(req, res, locks.map((l) => serializeLock(s, l)), 50, 250);
  });

  r.get('/locks/:id', (req, res) => {
    const s = state();
    const lock = s.locks.get(pathId(req));
    if (!lock) return notFound(res, 'Lock');
    res.status(200).json(serializeLock(s, lock));
  });

  r.get('/group_locks', (req, res) => {
    const s = state();
    const groupId = int(req, 'group_id');
    // group_id is the one required filter of this endpoint.
    if (groupId === undefined) return void res.status(400).json(kisiError('param is missing or the value is empty: group_id', KISI_ERROR_CODES.badRequest));
    if (!s.groups.has(groupId)) return notFound(res, 'Group');
    let links = [...s.groupLocks.values()].filter((gl) => gl.group_id === groupId);
    const lockId = int(req, 'lock_id');
    if (lockId !== undefined) links = links.filter((gl) => gl.lock_id === lockId);
    const ids = idList(req, 'ids');
    if (ids) links = links.filter((gl) => ids.has(gl.id));
    const query = str(req, 'query')?.toLowerCase();
    if (query) links = links.filter((gl) => (s.locks.get(gl.lock_id)?.name ?? '').toLowerCase().includes(query));
    page(req, res, links.map((gl) => serializeGroupLock(s, gl)), 10, 250);
  });

  // ---- role assignments ----------------------------------------------------------------------
  r.get('/role_assignments', (req, res) => {
    const s = state();
    let list = [...s.roleAssignments.values()];
    const ids = idList(req, 'ids');
    if (ids) list = list.filter((ra) => ids.has(ra.id));
    const roleId = str(req, 'role_id');
    if (roleId !== undefined) list = list.filter((ra) => ra.role_id === roleId);
    // Only group assignments of users exist here: other types match nothing.
    const assigneeType = str(req, 'assignee_type');
    if (assigneeType !== undefined && assigneeType !== 'User') list = [];
    const assigneeId = int(req, 'assignee_id');
    if (assigneeId !== undefined) list = list.filter((ra) => ra.user_id === assigneeId);
    const appliesToType = str(req, 'applies_to_type');
    if (appliesToType !== undefined && appliesToType !== 'Group') list = [];
    const appliesToId = int(req, 'applies_to_id');
    if (appliesToId !== undefined) list = list.filter((ra) => ra.group_id === appliesToId);
    // Deprecated filters, still honoured by Kisi.
    const scope = str(req, 'scope');
    if (scope !== undefined && scope !== 'group') list = [];
    const userId = int(req, 'user_id');
    if (userId !== undefined) list = list.filter((ra) => ra.user_id === userId);
    const groupId = int(req, 'group_id');
    if (groupId !== undefined) list = list.filter((ra) => ra.group_id === groupId);
    const placeId = int(req, 'place_id');
    if (placeId !== undefined) list = list.filter((ra) => s.groups.get(ra.group_id)?.place_id === placeId);
    const query = str(req, 'query')?.toLowerCase();
    if (query) {
      list = list.filter((ra) => {
        const u = s.users.get(ra.user_id);
        return u !== undefined && (u.email.toLowerCase().includes(query) || u.name.toLowerCase().includes(query));
      });
    }
    const sort = str(req, 'sort');
    if (sort === 'user.name' || sort === '-user.name') {
      const dir = sort.startsWith('-') ? -1 : 1;
      list.sort((a, b) => dir * (s.users.get(a.user_id)?.name ?? '').localeCompare(s.users.get(b.user_id)?.name ?? ''));
    }
    page(req, res, list.map((ra) => serializeRoleAssignment(s, ra)), 10, 250);
  });

  r.get('/role_assignments/:id', (req, res) => {
    const s = state();
    const ra = s.roleAssignments.get(pathId(req));
    if (!ra) return notFound(res, 'RoleAssignment');
    res.status(200).json(serializeRoleAssignment(s, ra));
  });

  r.post('/role_assignments', (req, res) => {
    const s = state();
    const body = parse(res, roleAssignmentCreateSchema, req.body, 'role_assignment');
    if (!body) return;
    const ra = body.role_assignment;
    const errors: Record<string, string[]> = {};
    const appliesToType = ra.applies_to_type ?? (ra.group_id !== undefined ? 'Group' : undefined);
    const groupId = ra.applies_to_id ?? ra.group_id;
    const assigneeType = ra.assignee_type ?? (ra.user_id !== undefined && ra.user_id !== null ? 'User' : undefined);
    const userId = ra.assignee_id ?? ra.user_id ?? undefined;
    if (appliesToType === undefined) errors.applies_to_type = ["can't be blank"];
    else if (appliesToType !== 'Group') errors.applies_to_type = ['only Group role assignments are simulated by the sandbox'];
    if (groupId === undefined) errors.applies_to_id = ["can't be blank"];
    if (assigneeType === undefined) errors.assignee_type = ["can't be blank"];
    else if (assigneeType !== 'User') errors.assignee_type = ['only User assignees are simulated by the sandbox'];
    if (userId === undefined) errors.assignee_id = ["can't be blank"];
    if (ra.role_id === undefined) errors.role_id = ["can't be blank"];
    else if (!GROUP_ROLES.includes(ra.role_id)) errors.role_id = ['is not included in the list'];
    const window = readWindow(ra.valid_from ?? null, ra.valid_until ?? null, errors);
    if (Object.keys(errors).length > 0) return unprocessable(res, errors);
    const group = s.groups.get(groupId!);
    if (!group) return unprocessable(res, { applies_to: ['must exist'] });
    if (!s.users.has(userId!)) return unprocessable(res, { assignee: ['must exist'] });
    if (group.restricted) return forbidden(res);
    if (options().duplicateAssignments === 'reject' && [...s.roleAssignments.values()].some((x) => x.user_id === userId && x.group_id === groupId)) {
      return unprocessable(res, { assignee_id: ['has already been taken'] });
    }
    const now = new Date().toISOString();
    const rec: RoleAssignmentRec = {
      id: s.nextId('role_assignments'),
      role_id: ra.role_id!,
      user_id: userId!,
      group_id: groupId!,
      notify: ra.notify ?? false,
      valid_from: window.from,
      valid_until: window.until,
      created_at: now,
      updated_at: now,
    };
    s.roleAssignments.set(rec.id, rec);
    s.log('created', rec);
    res.status(200).json(serializeRoleAssignment(s, rec));
  });

  r.patch('/role_assignments/:id', (req, res) => {
    const s = state();
    const rec = s.roleAssignments.get(pathId(req));
    if (!rec) return notFound(res, 'RoleAssignment');
    const body = parse(res, roleAssignmentUpdateSchema, req.body, 'role_assignment');
    if (!body) return;
    const patch = body.role_assignment;
    const errors: Record<string, string[]> = {};
    if (patch.role_id !== undefined && !GROUP_ROLES.includes(patch.role_id)) errors.role_id = ['is not included in the list'];
    // Fields left out keep their value; null opens that end of the window.
    const window = readWindow(
      patch.valid_from === undefined ? rec.valid_from : patch.valid_from,
      patch.valid_until === undefined ? rec.valid_until : patch.valid_until,
      errors,
    );
    if (Object.keys(errors).length > 0) return unprocessable(res, errors);
    if (s.groups.get(rec.group_id)?.restricted) return forbidden(res);
    const previous = { valid_from: rec.valid_from, valid_until: rec.valid_until };
    if (patch.role_id !== undefined) rec.role_id = patch.role_id;
    if (typeof patch.notify === 'boolean') rec.notify = patch.notify;
    rec.valid_from = window.from;
    rec.valid_until = window.until;
    rec.updated_at = new Date().toISOString();
    if (previous.valid_from !== rec.valid_from || previous.valid_until !== rec.valid_until) s.log('window_changed', rec, previous);
    res.status(204).end();
  });

  r.delete('/role_assignments/:id', (req, res) => {
    const s = state();
    const rec = s.roleAssignments.get(pathId(req));
    if (!rec) return notFound(res, 'RoleAssignment');
    if (s.groups.get(rec.group_id)?.restricted) return forbidden(res);
    s.roleAssignments.delete(rec.id);
    s.log('deleted', rec);
    res.status(204).end();
  });

  // ---- cards ---------------------------------------------------------------------------------
  r.get('/cards', (req, res) => {
    const s = state();
    let cards = [...s.cards.values()];
    const ids = idList(req, 'ids');
    if (ids) cards = cards.filter((c) => ids.has(c.id));
    const token = str(req, 'token');
    if (token !== undefined) cards = cards.filter((c) => c.token === token);
    const uid = str(req, 'uid');
    if (uid !== undefined) cards = cards.filter((c) => c.uid.toLowerCase() === uid.toLowerCase());
    const assignedTo = (cardId: number) => [...s.cardAssignments.values()].find((ca) => ca.card_id === cardId && ca.status === 'activated');
    const status = str(req, 'status');
    if (status === 'activated') cards = cards.filter((c) => assignedTo(c.id) !== undefined);
    if (status === 'unassigned') cards = cards.filter((c) => ![...s.cardAssignments.values()].some((ca) => ca.card_id === c.id));
    if (status === 'deactivated') cards = cards.filter((c) => [...s.cardAssignments.values()].some((ca) => ca.card_id === c.id && ca.status === 'deactivated'));
    const userId = int(req, 'user_id');
    if (userId !== undefined) cards = cards.filter((c) => assignedTo(c.id)?.user_id === userId);
    page(req, res, cards.map((c) => serializeCard(s, c)), 10, 250);
  });

  r.post('/cards', (req, res) => {
    const s = state();
    const body = parse(res, cardCreateSchema, req.body, 'card');
    if (!body) return;
    const c = body.card;
    const errors: Record<string, string[]> = {};
    if (c.type === undefined) errors.type = ["can't be blank"];
    else if (c.type !== 'mifare_desfire') errors.type = ['only mifare_desfire cards (created by token) are simulated by the sandbox'];
    if (c.token === undefined || c.token.trim() === '') errors.token = ["can't be blank"];
    if (Object.keys(errors).length > 0) return unprocessable(res, errors);
    if ([...s.cards.values()].some((x) => x.token === c.token)) return unprocessable(res, { token: ['has already been taken'] });
    const now = new Date().toISOString();
    const card = { id: s.nextId('cards'), token: c.token!, uid: newUid(), type: 'mifare_desfire' as const, created_at: now, updated_at: now };
    s.cards.set(card.id, card);
    res.status(200).json(serializeCard(s, card));
  });

  r.get('/card_assignments', (req, res) => {
    const s = state();
    let list = [...s.cardAssignments.values()];
    const ids = idList(req, 'ids');
    if (ids) list = list.filter((ca) => ids.has(ca.id));
    const assigneeType = str(req, 'assignee_type');
    if (assigneeType !== undefined && assigneeType !== 'User') list = [];
    const assigneeId = int(req, 'assignee_id');
    if (assigneeId !== undefined) list = list.filter((ca) => ca.user_id === assigneeId);
    const userId = int(req, 'user_id');
    if (userId !== undefined) list = list.filter((ca) => ca.user_id === userId);
    if (int(req, 'guest_id') !== undefined) list = [];
    const status = str(req, 'status');
    if (status !== undefined) list = list.filter((ca) => ca.status === status);
    const cardIds = idList(req, 'card_id');
    if (cardIds) list = list.filter((ca) => cardIds.has(ca.card_id));
    page(req, res, list.map((ca) => serializeCardAssignment(s, ca)), 10, 250);
  });

  r.get('/card_assignments/:id', (req, res) => {
    const s = state();
    const ca = s.cardAssignments.get(pathId(req));
    if (!ca) return notFound(res, 'CardAssignment');
    res.status(200).json(serializeCardAssignment(s, ca));
  });

  r.post('/card_assignments', (req, res) => {
    const s = state();
    const body = parse(res, cardAssignmentCreateSchema, req.body, 'card_assignment');
    if (!body) return;
    const ca = body.card_assignment;
    const errors: Record<string, string[]> = {};
    const assigneeType = ca.assignee_type ?? (ca.user_id !== undefined && ca.user_id !== null ? 'User' : undefined);
    const userId = ca.assignee_id ?? ca.user_id ?? undefined;
    if (assigneeType === undefined) errors.assignee_type = ["can't be blank"];
    else if (assigneeType !== 'User') errors.assignee_type = ['only User assignees are simulated by the sandbox'];
    if (userId === undefined) errors.assignee_id = ["can't be blank"];
    if (ca.card_id === undefined) errors.card_id = ["can't be blank"];
    if (ca.two_factor_pin !== undefined && ca.two_factor_pin !== null && !/^[0-9]{4}$/.test(ca.two_factor_pin)) errors.two_factor_pin = ['is invalid'];
    if (Object.keys(errors).length > 0) return unprocessable(res, errors);
    if (!s.cards.has(ca.card_id!)) return unprocessable(res, { card: ['must exist'] });
    if (!s.users.has(userId!)) return unprocessable(res, { assignee: ['must exist'] });
    // A card has one holder at a time (Kisi's dashboard "deassigns" a card before it can go to
    // someone else; GET /cards reports one `user_id`). A deactivated assignment still holds the
    // card. The error field and message are the sandbox's choice (UNVERIFIED): Kisi documents none.
    if ([...s.cardAssignments.values()].some((x) => x.card_id === ca.card_id)) {
      return unprocessable(res, { card_id: ['has already been taken'] });
    }
    const now = new Date().toISOString();
    const rec: CardAssignmentRec = { id: s.nextId('card_assignments'), card_id: ca.card_id!, user_id: userId!, two_factor_pin: ca.two_factor_pin ?? null, status: 'activated', created_at: now, updated_at: now };
    s.cardAssignments.set(rec.id, rec);
    res.status(200).json(serializeCardAssignment(s, rec));
  });

  r.delete('/card_assignments/:id', (req, res) => {
    const s = state();
    const ca = s.cardAssignments.get(pathId(req));
    if (!ca) return notFound(res, 'CardAssignment');
    s.cardAssignments.delete(ca.id);
    res.status(204).end();
  });

  // ---- integrations (event webhooks) ---------------------------------------------------------
  r.get('/integrations', (req, res) => {
    const s = state();
    page(req, res, [...s.integrations.values()].map((i) => serializeIntegration(s, i)), 10, 250);
  });

  r.post('/integrations', (req, res) => {
    const s = state();
    const body = parse(res, integrationCreateSchema, req.body, 'integration');
    if (!body) return;
    const i = body.integration;
    const errors: Record<string, string[]> = {};
    if (i.type !== 'event_webhook') errors.type = ['only event_webhook integrations are simulated by the sandbox'];
    if (i.name === undefined || i.name === '') errors.name = ["can't be blank"];
    if (i.url === undefined) errors.url = ["can't be blank"];
    else if (!URL.canParse(i.url)) errors.url = ['is invalid'];
    if (Object.keys(errors).length > 0) return unprocessable(res, errors);
    const now = new Date().toISOString();
    const rec = {
      id: s.nextId('integrations'),
      name: i.name!,
      type: 'event_webhook' as const,
      url: i.url!,
      enabled: i.enabled ?? true,
      enabled_events: i.enabled_events ?? [],
      signature_key: i.signature_key ?? null,
      created_at: now,
      updated_at: now,
    };
    s.integrations.set(rec.id, rec);
    res.status(200).json(serializeIntegration(s, rec));
  });

  r.delete('/integrations/:id', (req, res) => {
    const s = state();
    const i = s.integrations.get(pathId(req));
    if (!i) return notFound(res, 'Integration');
    s.integrations.delete(i.id);
    res.status(204).end();
  });

  return r;
}

// ---- request bodies (zod: the sandbox's external boundary) ----------------------------------

/** Kisi's metadata rules: basic values only, keys up to 50 chars, values up to 500, at most 50 keys. */
const metadataSchema = z
  .record(z.string().max(50, 'keys are limited to 50 characters'), z.union([z.string().max(500, 'values are limited to 500 characters'), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 50, { message: 'is limited to 50 keys' });

const userCreateSchema = z.object({
  user: z.object({
    email: z.email(),
    name: z.string().optional(),
    image: z.string().nullable().optional(),
    send_emails: z.boolean().optional(),
    confirm: z.boolean().optional(),
    access_enabled: z.boolean().optional(),
    password_flow_enabled: z.boolean().optional(),
    metadata: metadataSchema.optional(),
    notes: z.string().nullable().optional(),
  }),
});

const userUpdateSchema = z.object({
  user: z.object({
    name: z.string().optional(),
    image: z.string().nullable().optional(),
    access_enabled: z.boolean().optional(),
    password_flow_enabled: z.boolean().optional(),
    metadata: metadataSchema.optional(),
    notes: z.string().nullable().optional(),
  }),
});

const intId = z.number().int();
const roleAssignmentCreateSchema = z.object({
  role_assignment: z.object({
    role_id: z.string().optional(),
    applies_to_type: z.enum(['Organization', 'Place', 'Group']).optional(),
    applies_to_id: intId.optional(),
    assignee_type: z.enum(['User', 'Team', 'Guest']).optional(),
    assignee_id: intId.optional(),
    // Deprecated spellings Kisi still accepts.
    user_id: intId.nullable().optional(),
    group_id: intId.optional(),
    place_id: intId.optional(),
    organization_id: intId.optional(),
    notify: z.boolean().optional(),
    valid_from: z.string().nullable().optional(),
    valid_until: z.string().nullable().optional(),
  }),
});

const roleAssignmentUpdateSchema = z.object({
  role_assignment: z.object({
    role_id: z.string().optional(),
    // The published schema garbles `notify` (see test/contract/kisi-contract.ts); accept what Kisi does.
    notify: z.union([z.boolean(), z.string(), z.null()]).optional(),
    valid_from: z.string().nullable().optional(),
    valid_until: z.string().nullable().optional(),
  }),
});

const cardCreateSchema = z.object({
  card: z.looseObject({ token: z.string().optional(), type: z.string().optional() }),
});

const cardAssignmentCreateSchema = z.object({
  card_assignment: z.object({
    assignee_type: z.enum(['User', 'Guest']).optional(),
    assignee_id: intId.optional(),
    card_id: intId.optional(),
    two_factor_pin: z.string().nullable().optional(),
    send_two_factor_pin_notification: z.boolean().optional(),
    user_id: intId.nullable().optional(),
    guest_id: intId.nullable().optional(),
  }),
});

const integrationCreateSchema = z.object({
  integration: z.looseObject({
    name: z.string().optional(),
    type: z.string(),
    enabled: z.boolean().optional(),
    url: z.string().optional(),
    enabled_events: z.array(z.string()).optional(),
    signature_key: z.string().optional(),
  }),
});

// ---- helpers ----------------------------------------------------------------------------------

/** Parses a body; on failure answers 422 with Kisi-style field errors and returns undefined. */
function parse<T>(res: Response, schema: z.ZodType<T>, body: unknown, wrapper: string): T | undefined {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const errors: Record<string, string[]> = {};
  for (const issue of result.error.issues) {
    const path = issue.path.filter((p) => p !== wrapper);
    const field = path.length === 0 ? wrapper : String(path[0]);
    const missing = issue.code === 'invalid_type' && (issue.input === undefined || issue.input === null);
    (errors[field] ??= []).push(missing ? "can't be blank" : field === 'email' ? 'is invalid' : issue.message);
  }
  unprocessable(res, errors);
  return undefined;
}

/** Reads a validity window: ISO 8601 date-times or null; the end must come after the start. */
function readWindow(from: string | null, until: string | null, errors: Record<string, string[]>): { from: string | null; until: string | null } {
  const f = from === null ? null : isoDateTime(from);
  const u = until === null ? null : isoDateTime(until);
  if (f === undefined) errors.valid_from = ['is not a valid date-time'];
  if (u === undefined) errors.valid_until = ['is not a valid date-time'];
  if (f && u && Date.parse(u) <= Date.parse(f)) errors.valid_until = ['must be after valid_from'];
  return { from: f ?? null, until: u ?? null };
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
function isoDateTime(value: string): string | undefined {
  if (!ISO_DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) return undefined;
  return normalizeDate(value)!;
}

/** Answers a page of a list: Kisi's `limit`/`offset` and `X-Collection-Range: a-b/total` (`*\/total` when empty). */
function page(req: Request, res: Response, items: unknown[], defaultLimit: number, maxLimit: number): void {
  const rawLimit = int(req, 'limit');
  const limit = rawLimit === undefined || rawLimit < 1 ? defaultLimit : Math.min(rawLimit, maxLimit);
  const rawOffset = int(req, 'offset');
  const offset = rawOffset === undefined || rawOffset < 0 ? 0 : Math.min(rawOffset, MAX_OFFSET);
  const slice = items.slice(offset, offset + limit);
  res.setHeader('X-Collection-Range', slice.length > 0 ? `${offset}-${offset + slice.length - 1}/${items.length}` : `*/${items.length}`);
  res.status(200).json(slice);
}

function str(req: Request, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function int(req: Request, name: string): number | undefined {
  const v = str(req, name);
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** `ids=1,2,3` -> a set; undefined when absent. */
function idList(req: Request, name: string): Set<number> | undefined {
  const v = str(req, name);
  if (v === undefined) return undefined;
  return new Set(v.split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n)));
}

function pathId(req: Request): number {
  const raw = req.params.id;
  return typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : -1;
}

function notFound(res: Response, what: string): void {
  res.status(404).json(kisiError(`${what} not found`, KISI_ERROR_CODES.notFound));
}

function forbidden(res: Response): void {
  res.status(403).json(kisiError('You are not authorized to perform this action', KISI_ERROR_CODES.forbidden));
}

function unprocessable(res: Response, errors: Record<string, string[]>): void {
  res.status(422).json({ errors });
}
