/**
 * Access now (issue 18): who can open which Kisi group now, and whose access opens within the next
 * 24 hours, from this deployment's grants through Temporal's visibility (src/console/access/read.ts);
 * searchable by customer, email, Nexudus item, group and state. Each grant can be cancelled (a
 * confirmation names the customer and the doors first) and, when it needs attention, retried.
 *
 *   GET  /console/access                 the lists and the search form (a GET form, zod-validated)
 *   GET  /console/access/<id>/cancel     the confirmation
 *   POST /console/access/<id>/cancel     cancel: revokes, waits for the grant to give access back
 *   POST /console/access/<id>/retry      the retry signal; `back` says which console page to return to
 *
 * Cancelling and retrying are the grants CLI's own commands (src/ops/grant-commands.ts).
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { errorMessage } from '../../clients/errors';
import { idFromText } from '../../domain/ids';
import { GrantClosedError, GrantNotFoundError, cancelGrant, isGrantWorkflowId, retryGrant, showGrant, type GrantView } from '../../ops/grant-commands';
import { isHashedEmail } from '../../temporal/payload-codec';
import type { ConsoleDeps } from '../context';
import { html, type Html } from '../html';
import { sendPage } from '../layout';
import { backTo, CONSOLE_PATHS, temporalWorkflowUrl } from '../paths';
import { pageContext, redirectWithNotice, type PageRoutes } from '../router';
import { doorsOfGroups, groupLabel, inventoryOrNone, itemOptions, type ItemOption } from '../access/names';
import { shortLocalTime } from '../time';
import { grantCustomerName, readAccessLists, SOON_HORIZON_MS, type AccessList, type AccessRow } from '../access/read';
import { parseAccessSearch, STATE_CHOICES, type StateChoice } from '../access/search';
import type { Inventory } from '../../domain/inventory';

/** How long a cancellation waits for the grant to confirm it gave everything back. */
export const CANCEL_WAIT_MS = 20_000;

/** Only grant workflow ids (booking-, pass-, contract-<id>) reach a command. */
const grantIdSchema = z.string().max(64).refine(isGrantWorkflowId, { message: 'not a grant id' });

export function accessPage(deps: ConsoleDeps): PageRoutes {
  return (router: Router) => {
    router.get(CONSOLE_PATHS.access, (req, res) => showAccess(deps, req, res));
    router.get('/console/access/:id/cancel', (req, res) => showCancel(deps, req, res));
    router.post('/console/access/:id/cancel', (req, res) => doCancel(deps, req, res));
    router.post('/console/access/:id/retry', (req, res) => doRetry(deps, req, res));
  };
}

// ---------------------------------------------------------------------------------------------
// the lists

async function showAccess(deps: ConsoleDeps, req: Request, res: Response): Promise<void> {
  const ctx = pageContext(req);
  const map = deps.accessMap();
  const inventory = await inventoryOrNone(deps.inventory);
  const items = itemOptions(map, inventory);
  const parsed = parseAccessSearch(req.query, items);
  const form = searchForm(parsed.ok ? stringFields(parsed.search) : parsed.raw, items, map.allGroupIds(), inventory);
  if (!parsed.ok) {
    sendPage(res, ctx, {
      title: 'Access now',
      status: 400,
      body: html`<h1>Access now</h1>
        ${form}
        <div class="notice error" role="alert"><p>The search was not run:</p><ul>${parsed.problems.map((p) => html`<li>${p}</li>`)}</ul></div>`,
    });
    return;
  }
  const { filter } = parsed;
  let lists;
  try {
    lists = await readAccessLists(deps.client, deps.taskQueue, filter);
  } catch (error) {
    deps.logger.warn({ err: error }, 'console: Access now could not read the grants');
    sendPage(res, ctx, {
      title: 'Access now',
      status: 503,
      body: html`<h1>Access now</h1>${form}<p class="notice error" role="alert">Temporal did not answer, so the grants cannot be listed now (${errorMessage(error)}). Try again in a moment.</p>`,
    });
    return;
  }
  const zone = map.timeZone;
  const table = (list: AccessList, caption: string) => grantTable(deps, ctx.csrfToken, req.originalUrl, list, caption, zone, inventory);
  sendPage(res, ctx, {
    title: 'Access now',
    body: html`
      <h1>Access now</h1>
      <p>Who can open which Kisi group now, and whose access opens within the next ${SOON_HORIZON_MS / 3_600_000} hours, from this deployment's running grants. Times are in ${zone} (the access map's time zone), as of ${shortLocalTime(lists.at.toISOString(), zone)}.</p>
      ${form}
      ${filter.item
        ? html`<p class="hint">Grants do not record the Nexudus item they were bought for: ${filter.item.label} is searched as the Kisi groups the access map links it to (${filter.item.groups.map((g) => groupLabel(inventory, g)).join(', ')}), so other items that open the same groups are listed too.</p>`
        : null}
      ${filter.name ? html`<p class="hint">A name is matched on the grants read (Temporal's visibility holds no names): search by Nexudus customer id or email to be sure to find every grant.</p>` : null}
      ${inventory ? null : html`<p class="hint warn">Kisi group names could not be read just now (is a worker running?): groups are shown by id.</p>`}
      <h2 id="now">Can open now</h2>
      ${table(lists.now, 'Grants whose access window is open now')}
      <h2 id="soon">Opens within ${SOON_HORIZON_MS / 3_600_000} hours</h2>
      ${table(lists.soon, `Grants whose access window opens within ${SOON_HORIZON_MS / 3_600_000} hours`)}`,
  });
}

function stringFields(search: { customer?: string; email?: string; item?: string; group?: number; state: StateChoice }): Record<string, string> {
  return { customer: search.customer ?? '', email: search.email ?? '', item: search.item ?? '', group: search.group === undefined ? '' : String(search.group), state: search.state };
}

const STATE_LABEL: Record<StateChoice, string> = {
  active: 'Active',
  any: 'Any state',
  scheduled: 'Scheduled',
  granted: 'Granted',
  suspended: 'Suspended',
  revoked: 'Revoked',
  'needs-attention': 'Needs attention',
  cancelled: 'Cancelled',
};

function searchForm(values: Record<string, string>, items: ItemOption[], groupIds: number[], inventory: Inventory | undefined): Html {
  return html`
    <form method="get" action=${CONSOLE_PATHS.access} class="filters" role="search" aria-label="Search grants">
      <div class="field">
        <label for="customer">Customer</label>
        <input id="customer" name="customer" value=${values.customer ?? ''} aria-describedby="customer-hint" />
        <p class="hint" id="customer-hint">Nexudus id or name</p>
      </div>
      <div class="field">
        <label for="email">Email</label>
        <input id="email" name="email" type="email" value=${values.email ?? ''} />
      </div>
      <div class="field">
        <label for="item">Room or desk</label>
        <select id="item" name="item">
          <option value="">Any</option>
          ${items.map((i) => html`<option value=${i.value} selected=${values.item === i.value}>${i.label}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="group">Kisi group</label>
        <select id="group" name="group">
          <option value="">Any</option>
          ${groupIds.map((g) => html`<option value=${String(g)} selected=${values.group === String(g)}>${groupLabel(inventory, g)}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="state">State</label>
        <select id="state" name="state" aria-describedby="state-hint">
          ${STATE_CHOICES.map((s) => html`<option value=${s} selected=${(values.state || 'active') === s}>${STATE_LABEL[s]}</option>`)}
        </select>
        <p class="hint" id="state-hint">Active: granted, scheduled or needs attention</p>
      </div>
      <div class="actions">
        <button type="submit">Search</button>
        <a class="button secondary" href=${CONSOLE_PATHS.access}>Clear</a>
      </div>
    </form>`;
}

/** "booking-123 for Ada Lovelace" (the name when the grant's summary has one, else the Nexudus id). */
function grantFor(workflowId: string, name: string | null, customerId: string | number | null): string {
  return `${workflowId} for ${name ?? (customerId !== null ? `customer ${customerId}` : 'an unknown customer')}`;
}

function grantTable(deps: ConsoleDeps, csrfToken: string, here: string, list: AccessList, caption: string, zone: string, inventory: Inventory | undefined): Html {
  if (list.rows.length === 0) return html`<p>None.</p>`;
  const count = list.truncated
    ? html`<p class="warn" role="status">Showing ${list.rows.length} of ${list.total ?? 'more'}${list.total === null ? '' : ' matching'}: narrow the search to see the others.</p>`
    : html`<p class="hint">${list.rows.length} ${list.rows.length === 1 ? 'grant' : 'grants'}.</p>`;
  return html`
    ${count}
    <div class="table-wrap">
      <table>
        <caption class="hint">${caption}</caption>
        <thead>
          <tr>
            <th scope="col">Customer</th>
            <th scope="col">Window (${zone})</th>
            <th scope="col">Groups</th>
            <th scope="col">State</th>
            <th scope="col">Last error</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          ${list.rows.map((row) => grantRowHtml(deps, csrfToken, here, row, zone, inventory))}
        </tbody>
      </table>
    </div>`;
}

function grantRowHtml(deps: ConsoleDeps, csrfToken: string, here: string, row: AccessRow, zone: string, inventory: Inventory | undefined): Html {
  const who = grantFor(row.workflowId, row.customerName, row.customerId);
  const email = row.customerEmail && !isHashedEmail(row.customerEmail) ? row.customerEmail : null;
  const ui = temporalWorkflowUrl(deps, row.workflowId);
  return html`
    <tr>
      <td>
        ${row.customerName ? html`<strong>${row.customerName}</strong><br />` : null}
        ${row.customerId ? html`Nexudus customer ${row.customerId}<br />` : null}
        ${email}
        <div class="hint">${ui ? html`<a href=${ui} aria-label=${`${row.workflowId} in the Temporal Web UI`}>${row.workflowId}</a>` : row.workflowId}</div>
      </td>
      <td>
        <time datetime=${row.accessStartsAt ?? undefined}>${shortLocalTime(row.accessStartsAt, zone)}</time> →
        <time datetime=${row.accessEndsAt ?? undefined}>${shortLocalTime(row.accessEndsAt, zone)}</time>
      </td>
      <td>${row.groups.map((g, i) => html`${i > 0 ? html`<br />` : null}${groupLabel(inventory, Number(g))}`)}</td>
      <td class=${`state-${row.state ?? 'unknown'}`}>${row.state ?? 'unknown'}</td>
      <td>${row.lastError}</td>
      <td>
        <div class="actions">
          <a class="button secondary" href=${CONSOLE_PATHS.grantCancel(row.workflowId)} aria-label=${`Cancel ${who}`}>Cancel</a>
          ${row.state === 'needs-attention'
            ? html`<form method="post" action=${CONSOLE_PATHS.grantRetry(row.workflowId)}>
                <input type="hidden" name="_csrf" value=${csrfToken} />
                <input type="hidden" name="back" value=${here} />
                <button type="submit" aria-label=${`Retry ${who}`}>Retry</button>
              </form>`
            : null}
        </div>
      </td>
    </tr>`;
}

// ---------------------------------------------------------------------------------------------
// cancel

async function showCancel(deps: ConsoleDeps, req: Request, res: Response): Promise<void> {
  const id = grantIdSchema.safeParse(req.params.id);
  if (!id.success) return redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: 'That is not a grant (booking-, pass- or contract-<id>): nothing was done.' });
  let view: GrantView;
  try {
    view = await showGrant({ client: deps.client, kisi: { unavailable: 'the console does not read Kisi users' } }, id.data);
  } catch (error) {
    return redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: commandError(id.data, error, 'cancel') });
  }
  if (view.executionStatus !== 'RUNNING') {
    return redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: `${id.data} is already closed (${view.executionStatus.toLowerCase()}): nothing to cancel, nothing was done.` });
  }
  if (view.status?.state === 'cancelled') {
    return redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: `${id.data} is already cancelled: nothing was done.` });
  }
  const map = deps.accessMap();
  const zone = map.timeZone;
  const [inventory, name] = await Promise.all([inventoryOrNone(deps.inventory), grantCustomerName(deps.client, id.data)]);
  const customerId = view.status?.customerId ?? idFromText(view.attributes.customerId);
  const emailText = view.status?.customerEmail ?? view.attributes.customerEmail;
  const email = emailText && !isHashedEmail(emailText) ? emailText : null;
  const groups = view.status?.groups.length ? view.status.groups : view.attributes.groups.map(Number).filter(Number.isFinite);
  const doors = doorsOfGroups(inventory, groups);
  const doorsKnown = doors.every((d) => d.doors !== undefined);
  const window = view.status?.window ?? { from: view.attributes.accessStartsAt, until: view.attributes.accessEndsAt };
  const who = name ?? (customerId ? `customer ${customerId}` : 'an unknown customer');
  const ui = temporalWorkflowUrl(deps, id.data);
  const ctx = pageContext(req);
  sendPage(res, ctx, {
    title: `Cancel ${id.data}`,
    body: html`
      <h1>Cancel ${id.data} for ${who}?</h1>
      <dl class="facts">
        <dt>Customer</dt>
        <dd>${name ? html`${name}, ` : null}${customerId ? `Nexudus customer ${customerId}` : 'no Nexudus customer recorded'}${email ? html`, ${email}` : null}</dd>
        ${view.status?.label ? html`<dt>For</dt><dd>${view.status.label}</dd>` : null}
        <dt>Window (${zone})</dt>
        <dd>${shortLocalTime(window.from, zone)} → ${shortLocalTime(window.until, zone)}</dd>
        <dt>State</dt>
        <dd>${view.status?.state ?? view.attributes.state ?? 'unknown'}</dd>
        ${ui ? html`<dt>Workflow</dt><dd><a href=${ui}>${id.data} in the Temporal Web UI</a></dd>` : null}
      </dl>
      <h2>Doors this grant opens</h2>
      ${groups.length === 0
        ? html`<p>This grant holds no Kisi group.</p>`
        : html`<ul class="doors">
            ${doors.map((d) => html`<li><strong>${d.label}</strong>: ${d.doors === undefined ? 'doors not known' : d.doors.length ? d.doors.join(', ') : 'no doors'}</li>`)}
          </ul>`}
      ${doorsKnown ? null : html`<p class="hint warn">The Kisi place could not be read just now (is a worker running?), so the groups are named without their doors.</p>`}
      <h2>What cancelling does</h2>
      <ul>
        <li>Kisi access through these groups is revoked now: ${who} keeps a door only through another grant of theirs.</li>
        <li>The grant stops: it shows <em>cancelled</em> and grants nothing until the record changes in Nexudus or someone presses Retry.</li>
        <li>The ${view.status?.kind ?? 'record'} in Nexudus is not changed.</li>
      </ul>
      <form method="post" action=${CONSOLE_PATHS.grantCancel(id.data)} class="actions">
        <input type="hidden" name="_csrf" value=${ctx.csrfToken} />
        <button type="submit" class="danger">Cancel ${id.data} and revoke its access</button>
        <a class="button secondary" href=${CONSOLE_PATHS.access}>Keep it</a>
      </form>`,
  });
}

async function doCancel(deps: ConsoleDeps, req: Request, res: Response): Promise<void> {
  const id = grantIdSchema.safeParse(req.params.id);
  if (!id.success) return redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: 'That is not a grant (booking-, pass- or contract-<id>): nothing was done.' });
  try {
    const outcome = await cancelGrant(deps.client, id.data, { waitMs: CANCEL_WAIT_MS });
    deps.logger.info({ workflowId: id.data, settled: outcome.settled, state: outcome.state }, 'console: grant cancelled by an operator');
    const failed = Object.entries(outcome.groupStates ?? {}).filter(([, s]) => s === 'release-failed').map(([g]) => g);
    const text = !outcome.settled
      ? `Cancellation of ${id.data} was requested, but the grant has not confirmed within ${CANCEL_WAIT_MS / 1000} s that its access is revoked: check it again shortly.`
      : failed.length
        ? `${id.data} is cancelled, but Kisi did not confirm the removal from group(s) ${failed.join(', ')}${outcome.lastError ? ` (${outcome.lastError})` : ''}: check the grant.`
        : `${id.data} is cancelled and its Kisi access revoked.`;
    redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: outcome.settled && !failed.length ? 'ok' : 'error', text });
  } catch (error) {
    redirectWithNotice(req, res, CONSOLE_PATHS.access, { kind: 'error', text: commandError(id.data, error, 'cancel') });
  }
}

// ---------------------------------------------------------------------------------------------
// retry

async function doRetry(deps: ConsoleDeps, req: Request, res: Response): Promise<void> {
  const back = backTo((req.body as Record<string, unknown> | undefined)?.back, CONSOLE_PATHS.access);
  const id = grantIdSchema.safeParse(req.params.id);
  if (!id.success) return redirectWithNotice(req, res, back, { kind: 'error', text: 'That is not a grant (booking-, pass- or contract-<id>): nothing was done.' });
  try {
    const outcome = await retryGrant(deps.client, id.data);
    deps.logger.info({ workflowId: id.data, stateBefore: outcome.stateBefore }, 'console: retry sent by an operator');
    redirectWithNotice(req, res, back, { kind: 'ok', text: `Retry sent to ${id.data}${outcome.stateBefore ? ` (it was ${outcome.stateBefore})` : ''}: it reads Nexudus, the access map and the customer again.` });
  } catch (error) {
    redirectWithNotice(req, res, back, { kind: 'error', text: commandError(id.data, error, 'retry') });
  }
}

function commandError(workflowId: string, error: unknown, action: string): string {
  if (error instanceof GrantNotFoundError) return `There is no grant ${workflowId}: nothing was done.`;
  if (error instanceof GrantClosedError) return `${workflowId} is already ${error.executionStatus === 'CANCELLED BY AN OPERATOR' ? 'cancelled' : `closed (${error.executionStatus.toLowerCase()})`}: nothing to ${action}, nothing was done.`;
  return `Could not ${action} ${workflowId}: ${errorMessage(error)}. Nothing may have changed; check the grant before trying again.`;
}
