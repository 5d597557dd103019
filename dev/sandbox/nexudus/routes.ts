/**
 * The REST surface under /api: one collection per entity with Nexudus' verbs
 *   GET {path}            list (paging, filters, ranges; list answers omit collections)  role Entity-List
 *   GET {path}/{id}       one full record, 404 if absent                                  role Entity-Read
 *   POST {path}           create -> {Status, Message, Value: {Id}, WasSuccessful, Errors} role Entity-Create
 *   PUT {path}            update (body carries Id; the sandbox merges, Nexudus replaces)  role Entity-Edit
 *   DELETE {path}/{id}    delete                                                          role Entity-Delete
 * Write answers use Nexudus' envelope; validation failures are 400 with `WasSuccessful: false`.
 */
import { Router, type Request, type Response } from 'express';
import { nexudusId } from '../../../src/domain/nexudus-entities';
import type { SandboxAuth, SandboxUser } from './auth';
import {
  NotFoundFailure,
  ValidationFailure,
  type BookingInput,
  type CheckinInput,
  type ContractInput,
  type CoworkerInput,
  type FieldError,
  type PassInput,
  type WebhookInput,
} from './inputs';
import { QueryError, runQuery, type EntityFields } from './query';
import type { Json, Row } from './render';
import type { NexudusSandboxState } from './state';

/** How a refused check-in is answered; Nexudus' real answer is UNVERIFIED, so both can be played. */
export type CheckinRefusal = 'http-400' | 'http-200';

interface Collection extends EntityFields {
  path: string;
  /** Entity name: filter prefix (`Booking_Coworker`) and role prefix (`Booking-List`). */
  entity: string;
  rows(): Row[];
  one(id: number): Json | undefined;
  create?(body: unknown): Json;
  update?(body: unknown): Json;
  remove?(id: number): Json;
}

const AUDIT = ['UniqueId', 'CreatedOn', 'UpdatedOn', 'UpdatedBy', 'IsNew'];

export function envelope(message: string, value: unknown): Json {
  return {
    Status: 200,
    Message: message,
    Value: value,
    OpenInDialog: false,
    OpenInWindow: false,
    RedirectURL: null,
    JavaScript: null,
    UpdatedOn: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    UpdatedBy: 'sandbox@nexudus.invalid',
    Errors: null,
    WasSuccessful: true,
  };
}

export function invalidEnvelope(errors: FieldError[], status = 400): Json {
  return {
    Status: status,
    Message: errors.map((e) => `${e.PropertyName}: ${e.Message}`).join(', '),
    Value: null,
    Errors: errors,
    WasSuccessful: false,
  };
}

function idParam(req: Request): number | undefined {
  const parsed = nexudusId.safeParse(req.params.id);
  return parsed.success ? parsed.data : undefined;
}

function bodyId(body: unknown): unknown {
  return body && typeof body === 'object' ? (body as Json).Id : undefined;
}

/** Bodies are validated by the state's zod schemas; the static type here is only what they promise. */
function unchecked<T>(body: unknown): T {
  return body as T;
}

function collections(state: NexudusSandboxState): Collection[] {
  const s = state.store;
  const r = state.render;
  const withoutId = (body: unknown) => {
    const { Id: _ignored, ...rest } = (body && typeof body === 'object' ? body : {}) as Json;
    return rest;
  };
  const requireId = (body: unknown): number => {
    const parsed = nexudusId.safeParse(bodyId(body));
    if (!parsed.success) throw new ValidationFailure([{ PropertyName: 'Id', Message: 'may not be null', AttemptedValue: bodyId(body) ?? null }]);
    return parsed.data;
  };
  return [
    {
      path: 'spaces/bookings',
      entity: 'Booking',
      fields: ['Id', ...AUDIT, 'ResourceId', 'ResourceName', 'ResourceResourceTypeId', 'ResourceResourceTypeName', 'FloorPlanDeskId', 'FloorPlanDeskName', 'CoworkerId', 'CoworkerFullName', 'FromTime', 'ToTime', 'FromTimeLocal', 'ToTimeLocal', 'Notes', 'Tentative', 'Online', 'RepeatSeriesUniqueId'],
      dateFields: ['FromTime', 'ToTime', 'CreatedOn', 'UpdatedOn'],
      rows: () => s.bookings.all().map((b) => ({ record: r.booking(b), instants: { FromTime: b.FromTime, ToTime: b.ToTime, CreatedOn: b.CreatedOn, UpdatedOn: b.UpdatedOn } })),
      one: (id) => {
        const b = s.bookings.get(id);
        return b && r.booking(b);
      },
      create: (body) => state.addBooking(unchecked<BookingInput>(withoutId(body))),
      update: (body) => state.updateBooking(requireId(body), unchecked<Partial<BookingInput>>(withoutId(body))),
      remove: (id) => state.deleteBooking(id),
    },
    {
      path: 'spaces/coworkers',
      entity: 'Coworker',
      fields: ['Id', ...AUDIT, 'CoworkerType', 'FullName', 'Email', 'Active', 'AccessCardId', 'KeyFobNumber', 'AccessPincode'],
      dateFields: ['CreatedOn', 'UpdatedOn'],
      rows: () => s.coworkers.all().map((c) => ({ record: r.coworker(c), instants: { CreatedOn: c.CreatedOn, UpdatedOn: c.UpdatedOn } })),
      one: (id) => {
        const c = s.coworkers.get(id);
        return c && r.coworker(c);
      },
      create: (body) => state.addCoworker(unchecked<CoworkerInput>(withoutId(body))),
      update: (body) => state.updateCoworker(requireId(body), unchecked<Partial<CoworkerInput>>(withoutId(body))),
      remove: (id) => state.deleteCoworker(id),
    },
    {
      path: 'billing/coworkertimepasses',
      entity: 'CoworkerTimePass',
      fields: ['Id', ...AUDIT, 'CoworkerId', 'CoworkerFullName', 'BusinessId', 'TimePassId', 'TimePassName', 'Used', 'CheckedIn', 'UsedDate', 'RemainingUses', 'TotalUses', 'ExpireDate', 'IsFromTariff', 'CoworkerContractUniqueId'],
      dateFields: ['UsedDate', 'ExpireDate', 'CreatedOn', 'UpdatedOn'],
      rows: () => s.passes.all().map((p) => ({ record: r.pass(p), instants: { UsedDate: p.UsedDate, ExpireDate: p.ExpireDate, CreatedOn: p.CreatedOn, UpdatedOn: p.UpdatedOn } })),
      one: (id) => {
        const p = s.passes.get(id);
        return p && r.pass(p);
      },
      create: (body) => state.addCoworkerTimePass(unchecked<PassInput>(withoutId(body))),
      update: (body) => state.updateCoworkerTimePass(requireId(body), unchecked<Partial<PassInput>>(withoutId(body))),
      remove: (id) => state.deleteCoworkerTimePass(id),
    },
    {
      path: 'billing/coworkercontracts',
      entity: 'CoworkerContract',
      fields: ['Id', ...AUDIT, 'IssuedById', 'IssuedByName', 'CoworkerId', 'CoworkerFullName', 'CoworkerEmail', 'CoworkerActive', 'TariffId', 'TariffName', 'StartDate', 'RenewalDate', 'CancellationDate', 'Active', 'Cancelled', 'MainContract', 'Desks'],
      dateFields: ['StartDate', 'RenewalDate', 'CancellationDate', 'CreatedOn', 'UpdatedOn'],
      rows: () =>
        s.contracts.all().map((c) => ({
          record: r.contract(c, 'list'),
          instants: { StartDate: c.StartDate, RenewalDate: c.RenewalDate, CancellationDate: c.CancellationDate, CreatedOn: c.CreatedOn, UpdatedOn: c.UpdatedOn },
        })),
      one: (id) => {
        const c = s.contracts.get(id);
        return c && r.contract(c, 'full');
      },
      create: (body) => state.addContract(unchecked<ContractInput>(withoutId(body))),
      update: (body) => state.updateContract(requireId(body), unchecked<Partial<ContractInput>>(withoutId(body))),
      remove: (id) => state.deleteContract(id),
    },
    {
      path: 'billing/timepasses',
      entity: 'TimePass',
      fields: ['Id', 'UniqueId', 'Name', 'BusinessId', 'MinutesIncluded'],
      dateFields: [],
      rows: () => s.timePasses.all().map((t) => ({ record: r.timePass(t), instants: {} })),
      one: (id) => {
        const t = s.timePasses.get(id);
        return t && r.timePass(t);
      },
    },
    {
      path: 'spaces/resources',
      entity: 'Resource',
      fields: ['Id', 'UniqueId', 'Name', 'BusinessId', 'ResourceTypeId', 'ResourceTypeName', 'Archived'],
      dateFields: [],
      rows: () => s.resources.all().map((x) => ({ record: r.resource(x), instants: {} })),
      one: (id) => {
        const x = s.resources.get(id);
        return x && r.resource(x);
      },
    },
    {
      path: 'sys/floorplandesks',
      entity: 'FloorPlanDesk',
      fields: ['Id', 'UniqueId', 'Name', 'BusinessId', 'ItemType', 'ResourceId', 'CoworkerId', 'CoworkerFullName', 'CoworkerContractIds', 'Archived'],
      dateFields: [],
      rows: () => s.desks.all().map((d) => ({ record: r.desk(d), instants: {} })),
      one: (id) => {
        const d = s.desks.get(id);
        return d && r.desk(d);
      },
    },
    {
      path: 'sys/businesses',
      entity: 'Business',
      fields: ['Id', 'UniqueId', 'Name', 'SimpleTimeZoneId', 'TimeZone'],
      dateFields: [],
      rows: () => s.businesses.all().map((b) => ({ record: r.business(b), instants: {} })),
      one: (id) => {
        const b = s.businesses.get(id);
        return b && r.business(b);
      },
    },
    {
      path: 'spaces/checkins',
      entity: 'Checkin',
      fields: ['Id', ...AUDIT, 'BusinessId', 'BusinessName', 'CoworkerId', 'CoworkerFullName', 'Source', 'FromTime', 'ToTime', 'FromTimeLocal', 'ToTimeLocal', 'CoworkerTimePassGuid'],
      dateFields: ['FromTime', 'ToTime', 'CreatedOn', 'UpdatedOn'],
      rows: () => s.checkins.all().map((c) => ({ record: r.checkin(c), instants: { FromTime: c.FromTime, ToTime: c.ToTime, CreatedOn: c.CreatedOn, UpdatedOn: c.UpdatedOn } })),
      one: (id) => {
        const c = s.checkins.get(id);
        return c && r.checkin(c);
      },
      // POST is routed apart (a refusal is a failed check-in, not a validation error).
      update: (body) => state.updateCheckin(requireId(body), unchecked<Partial<CheckinInput>>(withoutId(body))),
    },
    {
      path: 'spaces/failedcheckins',
      entity: 'FailedCheckin',
      fields: ['Id', ...AUDIT, 'BusinessId', 'BusinessName', 'CoworkerId', 'CoworkerFullName', 'CheckinAttemptTime', 'CheckinAttemptTimeLocal', 'Source', 'Description'],
      dateFields: ['CheckinAttemptTime', 'CreatedOn', 'UpdatedOn'],
      rows: () => s.failedCheckins.all().map((f) => ({ record: r.failedCheckin(f), instants: { CheckinAttemptTime: f.CheckinAttemptTime, CreatedOn: f.CreatedOn, UpdatedOn: f.CreatedOn } })),
      one: (id) => {
        const f = s.failedCheckins.get(id);
        return f && r.failedCheckin(f);
      },
    },
    {
      path: 'sys/webhooks',
      entity: 'WebHook',
      fields: ['Id', ...AUDIT, 'BusinessId', 'Name', 'Action', 'Description', 'URL', 'Active', 'LastError', 'ErrorCount', 'LastTrigger'],
      dateFields: ['LastTrigger', 'CreatedOn', 'UpdatedOn'],
      rows: () => s.webhooks.all().map((w) => ({ record: r.webhook(w, 'list'), instants: { LastTrigger: w.LastTrigger, CreatedOn: w.CreatedOn, UpdatedOn: w.UpdatedOn } })),
      one: (id) => {
        const w = s.webhooks.get(id);
        return w && r.webhook(w, 'full');
      },
      create: (body) => state.addWebhook(unchecked<WebhookInput>(withoutId(body))),
      update: (body) => state.updateWebhook(requireId(body), unchecked<Partial<WebhookInput>>(withoutId(body))),
      remove: (id) => state.deleteWebhook(id),
    },
  ];
}

/** Every sandbox failure answered the way Nexudus answers its kind. */
export function answerError(res: Response, e: unknown): void {
  if (e instanceof ValidationFailure) res.status(400).json(invalidEnvelope(e.errors));
  else if (e instanceof NotFoundFailure) res.status(404).json({ Message: 'Not found' });
  else if (e instanceof QueryError) res.status(400).json({ Message: e.message });
  else res.status(500).json({ Message: 'An error has occurred.', ExceptionMessage: (e as Error)?.message ?? String(e) });
}

export function apiRouter(state: NexudusSandboxState, auth: SandboxAuth, options: { checkinRefusal: () => CheckinRefusal }): Router {
  const router = Router();
  const guard = (res: Response, role: string): boolean => {
    const user = res.locals.user as SandboxUser;
    if (auth.allows(user, role)) return true;
    auth.stats.forbidden++;
    res.status(403).json({ Message: `Authorization has been denied for this request: the user lacks the ${role} role.` });
    return false;
  };
  const handle =
    (role: string, fn: (req: Request, res: Response) => void) =>
    (req: Request, res: Response): void => {
      if (!guard(res, role)) return;
      try {
        fn(req, res);
      } catch (e) {
        answerError(res, e);
      }
    };

  // Check-ins: created by the door integration; refused ones become failed check-ins.
  router.post(
    '/spaces/checkins',
    handle('Checkin-Create', (req, res) => {
      const result = state.createCheckin(unchecked<CheckinInput>(req.body));
      if (result.ok) {
        res.json(envelope('Checkin was successfully created.', { Id: result.checkin.Id }));
        return;
      }
      const refused = invalidEnvelope([{ PropertyName: 'CoworkerId', Message: result.reason, AttemptedValue: (req.body as Json).CoworkerId ?? null }]);
      res.status(options.checkinRefusal() === 'http-400' ? 400 : 200).json(refused);
    }),
  );

  for (const c of collections(state)) {
    const base = `/${c.path}`;
    router.get(
      base,
      handle(`${c.entity}-List`, (req, res) => {
        res.json(runQuery(c.entity, c.rows(), c, req.query as Record<string, unknown>));
      }),
    );
    router.get(
      `${base}/:id`,
      handle(`${c.entity}-Read`, (req, res) => {
        const id = idParam(req);
        const record = id === undefined ? undefined : c.one(id);
        if (!record) {
          res.status(404).json({ Message: 'Not found' });
          return;
        }
        res.json(record);
      }),
    );
    const { create, update, remove } = c;
    if (create) {
      router.post(
        base,
        handle(`${c.entity}-Create`, (req, res) => {
          const record = create(req.body);
          res.json(envelope(`${c.entity} was successfully created.`, { Id: record.Id }));
        }),
      );
    }
    if (update) {
      router.put(
        base,
        handle(`${c.entity}-Edit`, (req, res) => {
          const record = update(req.body);
          res.json(envelope(`${c.entity} was successfully updated.`, { Id: record.Id }));
        }),
      );
    }
    if (remove) {
      router.delete(
        `${base}/:id`,
        handle(`${c.entity}-Delete`, (req, res) => {
          const id = idParam(req);
          if (id === undefined) throw new NotFoundFailure(c.entity, 0);
          const record = remove(id);
          res.json(envelope(`${c.entity} was successfully deleted.`, { Id: record.Id }));
        }),
      );
    }
  }

  router.use((_req, res) => {
    res.status(404).json({ Message: 'No HTTP resource was found that matches the request URI.' });
  });
  return router;
}
