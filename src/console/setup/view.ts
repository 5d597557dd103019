/**
 * The Setup page's markup: the place and business, every Nexudus item with the Kisi groups it
 * opens (checkboxes of the place's groups, other ids typed), the doors, the timing and time zone,
 * the findings of the check, and Save's outcome. Drawn from the form's values (src/console/setup/
 * form.ts), so a refused form comes back exactly as it was sent, with each error beside its field.
 * Items, groups and locks are what `npm run access-map` lists (buildListing); without an inventory
 * the map's own entries are shown by id.
 */
import type { Finding, CheckReport } from '../../link/check';
import type { ItemRow, Listing } from '../../link/listing';
import { ITEM_TABLES, type ItemTable } from '../../domain/inventory';
import { html, type Html } from '../html';
import { CONSOLE_PATHS } from '../paths';
import type { FieldError, ItemValues, SetupForm } from './form';

export const SETUP_PATHS = {
  page: CONSOLE_PATHS.setup,
  check: `${CONSOLE_PATHS.setup}/check`,
  download: `${CONSOLE_PATHS.setup}/download`,
} as const;

const TITLES: Record<ItemTable, string> = { passes: 'Pass types', resources: 'Resources', floorPlanItems: 'Floor-plan items (desks and offices)' };
const NOUN: Record<ItemTable, string> = { passes: 'pass type', resources: 'resource', floorPlanItems: 'floor-plan item' };

/** Where the map is and whether Save may write it. */
export interface FileState {
  file?: string;
  writable: boolean;
  reason?: string;
}

/** What Save did, shown above the form (a successful save redirects with a notice instead). */
export type Outcome =
  | { kind: 'form-errors'; errors: FieldError[] }
  | { kind: 'refused'; report: CheckReport }
  | { kind: 'stale' }
  | { kind: 'failed'; reason: string }
  | { kind: 'download'; file: FileState; name: string };

export interface SetupView {
  form: SetupForm;
  listing?: Listing;
  /** Why there are no names (the worker did not answer). */
  inventoryProblem?: string;
  file: FileState;
  /** The check's findings for the form as shown (undefined when the form does not read). */
  report?: CheckReport;
  /** Whether the check ran against Kisi and Nexudus (false: the schema only). */
  checked: boolean;
  errors: FieldError[];
  outcome?: Outcome;
  csrfToken: string;
}

const domId = (field: string) => `f-${field.replace(/[^A-Za-z0-9]+/g, '-')}`;

export function setupBody(view: SetupView): Html {
  const { form, listing } = view;
  const errorOf = (field: string) => view.errors.find((e) => e.field === field)?.message;
  /** A text field with its label, hint and error, wired for screen readers. */
  const textField = (field: string, label: string, value: string, options: { hint?: string; inputmode?: string; list?: string; placeholder?: string } = {}) => {
    const id = domId(field);
    const error = errorOf(field);
    const describedBy = [options.hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} name=${field} type="text" value=${value} inputmode=${options.inputmode} list=${options.list} placeholder=${options.placeholder} aria-invalid=${error ? 'true' : undefined} aria-describedby=${describedBy} />
      ${options.hint ? html`<p class="hint" id=${`${id}-hint`}>${options.hint}</p>` : null}
      ${error ? html`<p class="bad" id=${`${id}-error`}>${error}</p>` : null}
    </div>`;
  };

  const placeGroups = listing?.groups ?? [];
  const placeGroupIds = new Set(placeGroups.map((g) => String(g.id)));
  const groupName = new Map(placeGroups.map((g) => [g.id, g.name]));

  const itemFieldset = (table: ItemTable, id: number, row: ItemRow | undefined) => {
    const key = `${table}.${id}`;
    const values: ItemValues = form.items[key] ?? { groups: [], groupIds: '', lead: '', lag: '' };
    const checked = new Set(values.groups.filter((g) => placeGroupIds.has(g)));
    const extra = [...values.groups.filter((g) => !placeGroupIds.has(g)), ...(values.groupIds ? [values.groupIds] : [])].join(', ');
    const groupsError = errorOf(`${key}.groups`);
    const what = row ? [row.type, row.archived ? 'archived' : undefined].filter(Boolean).join(', ') : listing ? 'not in Nexudus\u2019 list' : undefined;
    const suggestion = row?.suggestedGroup !== undefined ? groupName.get(row.suggestedGroup) : undefined;
    const linked = checked.size > 0 || extra !== '';
    return html`<fieldset class="item" id=${domId(key)}>
      <legend>${row ? row.name : `${NOUN[table]} ${id}`} <span class="hint">${NOUN[table]} ${id}${what ? `, ${what}` : ''}${linked ? '' : ' \u2014 not linked'}</span></legend>
      ${placeGroups.length > 0
        ? html`<div class="filters" role="group" aria-label=${`Kisi groups for ${row?.name ?? `${NOUN[table]} ${id}`}`}>
            ${placeGroups.map(
              (g) => html`<label class="check"><input type="checkbox" name=${`${key}.groups`} value=${String(g.id)} checked=${checked.has(String(g.id))} /> ${g.name}</label>`,
            )}
          </div>`
        : null}
      ${groupsError ? html`<p class="bad" role="alert">${groupsError}</p>` : null}
      ${suggestion && !linked ? html`<p class="hint">Its name matches the Kisi group \u201c${suggestion}\u201d.</p>` : null}
      <div class="filters">
        ${textField(`${key}.groupIds`, placeGroups.length > 0 ? 'Other Kisi group ids' : 'Kisi group ids', extra, { inputmode: 'numeric', hint: placeGroups.length > 0 ? 'Groups outside the place, by id, separated by commas.' : 'Separated by commas; none: not linked.' })}
        ${textField(`${key}.lead`, 'Lead (optional)', values.lead, { placeholder: table === 'passes' ? '0' : 'default' })}
        ${textField(`${key}.lag`, 'Lag (optional)', values.lag, { placeholder: table === 'passes' ? '0' : 'default' })}
      </div>
    </fieldset>`;
  };

  const itemSections = ITEM_TABLES.map((table) => {
    const rows = listing ? listing.items.filter((i) => i.table === table) : [];
    const listed = new Set(rows.map((r) => `${table}.${r.id}`));
    const others = Object.keys(form.items)
      .filter((key) => key.startsWith(`${table}.`) && !listed.has(key))
      .map((key) => Number(key.slice(table.length + 1)))
      .sort((a, b) => a - b);
    return html`<section aria-labelledby=${`h-${table}`}>
      <h2 id=${`h-${table}`}>${TITLES[table]}</h2>
      ${rows.length + others.length === 0 ? html`<p class="hint">None.</p>` : null}
      ${rows.map((row) => itemFieldset(table, row.id, row))}
      ${others.map((id) => itemFieldset(table, id, undefined))}
    </section>`;
  });

  const locks = listing?.locks ?? [];
  const lockIds = new Set(locks.map((l) => String(l.id)));
  const otherDoors = Object.keys(form.doors).filter((id) => !lockIds.has(id)).sort((a, b) => Number(a) - Number(b));
  const doorField = (id: string, name: string | undefined) => {
    const values = form.doors[id] ?? { onUnlock: 'none', listed: false };
    const field = `doors.${id}.onUnlock`;
    const error = errorOf(field);
    return html`<div class="field">
      <label for=${domId(field)}>${name ?? `Lock ${id}`} <span class="hint">lock ${id}${name === undefined && listing ? ', not in the place' : ''}</span></label>
      <select id=${domId(field)} name=${field} aria-invalid=${error ? 'true' : undefined}>
        <option value="none" selected=${values.onUnlock !== 'checkin'}>Nothing</option>
        <option value="checkin" selected=${values.onUnlock === 'checkin'}>Check in on unlock</option>
      </select>
      ${values.listed ? html`<input type="hidden" name=${`doors.${id}.listed`} value="1" />` : null}
      ${error ? html`<p class="bad">${error}</p>` : null}
    </div>`;
  };

  return html`
    <h1>Setup</h1>
    ${outcomeView(view)}
    <section aria-labelledby="h-where">
      <h2 id="h-where">Kisi and Nexudus</h2>
      ${view.inventoryProblem
        ? html`<p class="notice error" role="alert">The names could not be read from Kisi and Nexudus (${view.inventoryProblem}). The map is shown and edited by ids; the check runs the schema only.</p>`
        : null}
      <dl>
        <dt>Kisi place</dt>
        <dd>${listing ? `${listing.place.name} (${listing.place.id})${listing.place.timeZone ? `, ${listing.place.timeZone}` : ''}` : `place ${form.kisiPlaceId}`}</dd>
        <dt>Nexudus business</dt>
        <dd>${listing?.business ? `${listing.business.name} (${listing.business.id})` : form.nexudusBusinessId ? `business ${form.nexudusBusinessId}` : 'not set'}</dd>
        <dt>Map file</dt>
        <dd>${view.file.file ?? 'not known to this process'}${view.file.writable ? ' (Save writes it)' : ` (read-only here: ${view.file.reason}; Save offers it to download)`}</dd>
      </dl>
    </section>
    <form method="post" action=${SETUP_PATHS.page} id="setup-form" data-check-url=${SETUP_PATHS.check} novalidate>
      <input type="hidden" name="_csrf" value=${view.csrfToken} />
      <input type="hidden" name="base" value=${form.base} />
      <section aria-labelledby="h-place">
        <h2 id="h-place">Place, time zone and timing</h2>
        <div class="filters">
          ${textField('kisiPlaceId', 'Kisi place id', form.kisiPlaceId, { inputmode: 'numeric' })}
          ${textField('nexudusBusinessId', 'Nexudus business id', form.nexudusBusinessId, { inputmode: 'numeric', hint: 'Needed when a door checks customers in.' })}
          ${textField('timeZone', 'Time zone', form.timeZone, { list: 'time-zones', hint: 'IANA name, e.g. Europe/London.' })}
          ${textField('timing.lead', 'Default lead', form.lead, { hint: 'Door opens this long before a booking: 15m, 1h30m, 0.' })}
          ${textField('timing.lag', 'Default lag', form.lag, { hint: 'And stays open this long after it.' })}
        </div>
        <datalist id="time-zones">${Intl.supportedValuesOf('timeZone').map((z) => html`<option value=${z}></option>`)}</datalist>
      </section>
      ${itemSections}
      <section aria-labelledby="h-add">
        <h2 id="h-add">Link another item by id</h2>
        <div class="filters">
          <div class="field">
            <label for="f-add-table">Kind</label>
            <select id="f-add-table" name="add.table">
              ${ITEM_TABLES.map((t) => html`<option value=${t} selected=${form.add.table === t}>${NOUN[t]}</option>`)}
            </select>
          </div>
          ${textField('add.id', 'Nexudus id', form.add.id, { inputmode: 'numeric' })}
          ${textField('add.groupIds', 'Kisi group ids', form.add.groupIds, { inputmode: 'numeric', hint: 'Separated by commas.' })}
        </div>
      </section>
      <section aria-labelledby="h-doors">
        <h2 id="h-doors">Doors</h2>
        <p class="hint">What an unlock of each Kisi lock does: check the customer in to Nexudus, or nothing.</p>
        ${locks.length + otherDoors.length === 0 ? html`<p class="hint">No locks.</p>` : null}
        ${locks.map((l) => doorField(String(l.id), l.name))}
        ${otherDoors.map((id) => doorField(id, undefined))}
      </section>
      ${listing && listing.groups.length > 0
        ? html`<section aria-labelledby="h-groups">
            <h2 id="h-groups">Kisi groups of the place</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Kisi groups of the place (scrolls sideways)">
              <table>
                <thead><tr><th scope="col">Group</th><th scope="col">Opens</th><th scope="col">Linked in the map in force</th></tr></thead>
                <tbody>
                  ${listing.groups.map(
                    (g) => html`<tr>
                      <td>${g.name} <span class="hint">(${g.id})</span></td>
                      <td>${g.lockIds.map((id) => listing.locks.find((l) => l.id === id)?.name ?? `lock ${id}`).join(', ') || 'no lock'}</td>
                      <td>${g.usedBy.length > 0 ? g.usedBy.join(', ') : 'nowhere'}</td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          </section>`
        : null}
      <section aria-labelledby="h-check">
        <h2 id="h-check">Check</h2>
        <div id="findings" aria-live="polite">${findingsView(view.report, view.errors, view.checked)}</div>
      </section>
      <div class="actions">
        <button type="submit" name="action" value="check" class="secondary">Check</button>
        <button type="submit" name="action" value="save">Save</button>
      </div>
    </form>`;
}

/** The findings region: the form's errors, else the check's findings. Also the live check's answer. */
export function findingsView(report: CheckReport | undefined, errors: FieldError[], checked: boolean): Html {
  if (errors.length > 0) {
    return html`<p class="bad">The form has ${errors.length} ${errors.length === 1 ? 'problem' : 'problems'}:</p>
      <ul>${errors.map((e) => html`<li><a href=${`#${domId(e.field)}`}>${e.field}</a>: ${e.message}</li>`)}</ul>`;
  }
  if (!report) return null;
  const scope = checked ? 'against Kisi and Nexudus' : 'against the schema only (names not read)';
  if (report.findings.length === 0) return html`<p class="state-active">No problems ${scope}.</p>`;
  return html`<p class=${report.errors > 0 ? 'bad' : 'warn'}>${report.errors} ${report.errors === 1 ? 'error' : 'errors'}, ${report.warnings} ${report.warnings === 1 ? 'warning' : 'warnings'} ${scope}${report.errors > 0 ? ': Save refuses a map with errors.' : '.'}</p>
    <ul class="findings">${report.findings.map(findingView)}</ul>`;
}

function findingView(f: Finding): Html {
  return html`<li data-code=${f.code} data-key=${f.key ?? ''}>
    <span class=${f.level === 'error' ? 'bad' : 'warn'}>${f.level === 'error' ? 'Error' : 'Warning'}</span>
    ${f.key ? html` <code>${f.key}</code>` : null}: ${f.message}
  </li>`;
}

function outcomeView(view: SetupView): Html {
  const outcome = view.outcome;
  if (!outcome) return null;
  switch (outcome.kind) {
    case 'form-errors':
      return html`<p class="notice error" role="alert">Not saved: the form has ${outcome.errors.length === 1 ? 'a problem' : `${outcome.errors.length} problems`} (listed under Check). Nothing was written.</p>`;
    case 'refused':
      return html`<p class="notice error" role="alert">Not saved: the map has ${outcome.report.errors} ${outcome.report.errors === 1 ? 'error' : 'errors'} (listed under Check). Nothing was written.</p>`;
    case 'stale':
      return html`<p class="notice error" role="alert">Not saved: the map in force changed since this page was opened (another save, or the file was edited). Nothing was written. Your edits are below; Save again to replace the new map with them.</p>`;
    case 'failed':
      return html`<p class="notice error" role="alert">Not saved: ${outcome.reason}. Nothing was changed.</p>`;
    case 'download':
      return html`<section class="notice ok" aria-labelledby="h-download">
        <h2 id="h-download">The map is valid: download it to apply it</h2>
        <p>This process cannot write ${outcome.file.file ?? 'the map file'} (${outcome.file.reason}). Download the checked file, copy it over the access map on the host and have both roles reload it:</p>
        <pre><code>cp ${outcome.name} "$ACCESS_MAP_FILE" && docker compose --env-file deploy/.env kill -s HUP worker ingress</code></pre>
        <p class="hint">ACCESS_MAP_FILE is the map's path on the host, in deploy/.env. cp writes over the file in place, which its read-only mount needs (a file moved over it is not seen by the containers).</p>
        <button type="submit" form="setup-form" formaction=${SETUP_PATHS.download}>Download ${outcome.name}</button>
      </section>`;
  }
}
