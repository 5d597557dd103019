/**
 * Setup (/console/setup): the access map on screens, as the seed's settings screens had it. The
 * page shows the Kisi place, the Nexudus business and every item beside the groups it opens, as
 * `npm run access-map` lists them (buildListing over the worker's inventory), editable; findings of
 * `link --check` as one edits (POST /console/setup/check, from the page's script, or the Check
 * button without JavaScript).
 *
 * Save (POST /console/setup, action=save) reads the form (zod), judges the map with the worker's
 * own schema and checkMap, and refuses any error with nothing written. A map that passes is
 * written atomically over ACCESS_MAP when this process may write it, then this process reloads it
 * (the workers reload it when they see the file change, or on SIGHUP). Where the file is read-only
 * (the compose stack's mount) the page offers the checked file to download (POST
 * /console/setup/download) with the command that applies it.
 */
import type { Request, Response, Router } from 'express';
import type { Inventory } from '../../domain/inventory';
import { buildListing, type Listing, type MapStatus } from '../../link/listing';
import type { MapData } from '../../link/check';
import type { ConsoleDeps } from '../context';
import { renderFragment } from '../html';
import { sendPage } from '../layout';
import { pageContext, redirectWithNotice, type PageRoutes } from '../router';
import { judge, readInventory } from '../setup/check';
import type { InventoryRead } from '../inventory';
import { formFromMap, formToMap, mapFingerprint, readForm, type FieldError, type SetupForm } from '../setup/form';
import { findingsView, setupBody, SETUP_PATHS, type FileState, type Outcome } from '../setup/view';
import { downloadOf, writability, writeMapAtomically } from '../setup/write';

const DEFAULT_INVENTORY_WAIT_MS = 10_000;

export function setupPage(deps: ConsoleDeps): PageRoutes {
  const waitMs = deps.inventoryWaitMs ?? DEFAULT_INVENTORY_WAIT_MS;

  const fileState = (): FileState => {
    const w = writability(deps.accessMapFile?.file);
    return w.writable ? { file: w.file, writable: true } : { file: w.file, writable: false, reason: w.reason };
  };

  const listingOf = (read: InventoryRead, map: MapData): Listing | undefined => {
    if (!read.inventory) return undefined;
    const status: MapStatus = { file: deps.accessMapFile?.file ?? 'the map in force', status: 'loaded', kisiPlaceId: map.kisiPlaceId };
    return buildListing(read.inventory, map, status, map.nexudusBusinessId);
  };

  const itemNames = (inventory: Inventory | undefined) => new Map((inventory?.nexudus.items ?? []).map((i) => [`${i.table}.${i.id}`, i.name]));

  /** The page for a form (the map in force, or one posted), with its findings. */
  const show = async (req: Request, res: Response, form: SetupForm, options: { status?: number; errors?: FieldError[]; outcome?: Outcome; read?: InventoryRead } = {}) => {
    const current = deps.accessMap().toJSON();
    const errors = options.errors ?? [];
    let read = options.read;
    let report;
    let checked = false;
    if (errors.length === 0) {
      const result = formToMap(form, { current });
      if (result.ok) {
        const edited = judge(result.map, undefined).map;
        read ??= await readInventory(deps.inventory, waitMs, edited);
        const judged = judge(result.map, read.inventory);
        report = judged.report;
        checked = judged.checked;
      }
    }
    read ??= await readInventory(deps.inventory, waitMs);
    const ctx = pageContext(req);
    sendPage(res, ctx, {
      title: 'Setup',
      status: options.status,
      scripts: ['setup.js'],
      body: setupBody({
        form,
        listing: listingOf(read, current),
        inventoryProblem: read.problem,
        file: fileState(),
        report,
        checked,
        errors,
        outcome: options.outcome,
        csrfToken: ctx.csrfToken,
      }),
    });
  };

  /** The posted form as a judged map, or why not (form errors, or findings with errors). */
  const evaluate = async (body: unknown) => {
    const form = readForm(body);
    const current = deps.accessMap().toJSON();
    const preliminary = formToMap(form, { current });
    if (!preliminary.ok) return { ok: false, form, errors: preliminary.errors } as const;
    const edited = judge(preliminary.map, undefined).map;
    const read = await readInventory(deps.inventory, waitMs, edited);
    // Again with the items' names at hand: new entries carry them, as the starter map's do.
    const result = formToMap(form, { current, itemNames: itemNames(read.inventory) });
    if (!result.ok) return { ok: false, form, errors: result.errors } as const;
    return { ok: true, form, map: result.map, judged: judge(result.map, read.inventory), read, current } as const;
  };

  return (router: Router) => {
    router.get(SETUP_PATHS.page, async (req, res) => {
      await show(req, res, formFromMap(deps.accessMap().toJSON()));
    });

    // The live check: the findings for the form as it is now, as a fragment for the aria-live region.
    router.post(SETUP_PATHS.check, async (req, res) => {
      const outcome = await evaluate(req.body);
      const fragment = !outcome.ok ? findingsView(undefined, outcome.errors, false) : findingsView(outcome.judged.report, [], outcome.judged.checked);
      res.status(200).type('html').setHeader('Cache-Control', 'no-store');
      res.send(renderFragment(fragment));
    });

    router.post(SETUP_PATHS.page, async (req, res) => {
      const action = (req.body as Record<string, unknown>).action === 'save' ? 'save' : 'check';
      const outcome = await evaluate(req.body);
      if (!outcome.ok) {
        await show(req, res, outcome.form, { status: 400, errors: outcome.errors, outcome: action === 'save' ? { kind: 'form-errors', errors: outcome.errors } : undefined });
        return;
      }
      const { form, map, judged, read, current } = outcome;
      if (action === 'check') {
        await show(req, res, form, { read });
        return;
      }
      if (judged.report.errors > 0) {
        deps.logger.info({ errors: judged.report.errors }, 'console: access map not saved, it has errors');
        await show(req, res, form, { status: 422, read, outcome: { kind: 'refused', report: judged.report } });
        return;
      }
      if (form.base !== mapFingerprint(current)) {
        // Shown again on the map in force now: the next Save replaces that one knowingly.
        await show(req, res, { ...form, base: mapFingerprint(current) }, { status: 409, read, outcome: { kind: 'stale' } });
        return;
      }
      const file = fileState();
      const access = deps.accessMapFile;
      if (!file.writable || !access) {
        await show(req, res, form, { read, outcome: { kind: 'download', file, name: downloadOf(file.file, map).name } });
        return;
      }
      const written = await writeMapAtomically(access.file, map);
      if (!written.written) {
        deps.logger.warn({ accessMap: access.file, reason: written.reason }, 'console: access map not written');
        const readOnly: FileState = { file: access.file, writable: false, reason: written.reason };
        await show(req, res, form, {
          status: written.readOnly ? 200 : 500,
          read,
          outcome: written.readOnly ? { kind: 'download', file: readOnly, name: downloadOf(access.file, map).name } : { kind: 'failed', reason: written.reason },
        });
        return;
      }
      const reloaded = access.reload('console');
      deps.logger.info({ accessMap: access.file, reloaded }, 'console: access map saved');
      redirectWithNotice(
        req,
        res,
        SETUP_PATHS.page,
        reloaded.ok
          ? { kind: 'ok', text: `Saved ${access.file}${reloaded.changed ? '' : ' (no change)'}. This ingress uses it now; the workers reload it when they see the file change (within seconds) or on SIGHUP.` }
          : { kind: 'error', text: `Saved ${access.file}, but this ingress could not reload it: ${reloaded.error}. The previous map stays in force here.` },
      );
    });

    // The checked file, to apply by hand where this process cannot write it.
    router.post(SETUP_PATHS.download, async (req, res) => {
      const outcome = await evaluate(req.body);
      if (!outcome.ok) {
        await show(req, res, outcome.form, { status: 400, errors: outcome.errors, outcome: { kind: 'form-errors', errors: outcome.errors } });
        return;
      }
      if (outcome.judged.report.errors > 0) {
        await show(req, res, outcome.form, { status: 422, read: outcome.read, outcome: { kind: 'refused', report: outcome.judged.report } });
        return;
      }
      const download = downloadOf(deps.accessMapFile?.file, outcome.map);
      // attachment() first: it sets a type from the extension, which ours (application/yaml) replaces.
      res.attachment(download.name);
      res.status(200).type(download.type).setHeader('Cache-Control', 'no-store');
      res.send(download.body);
    });
  };
}
