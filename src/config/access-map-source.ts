/**
 * The access map in force in a running process (worker or ingress), reloadable without a restart:
 * SIGHUP and a change of the file re-read and validate it. A map that does
 * not validate is refused with the error logged, and the one in force stays. Callers read the
 * current map through `get` each time they need it, so a reload reaches the next request.
 */
import fs from 'node:fs';
import { AccessMap, AccessMapError } from './access-map';

export interface ReloadLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type ReloadOutcome = { ok: true; changed: boolean } | { ok: false; error: string };

export class AccessMapSource {
  private current: AccessMap;
  private watching = false;
  private readonly onSighup = () => void this.reload('SIGHUP');

  /** Reads the map once; throws AccessMapError when it does not validate (the process should not start). */
  constructor(
    readonly file: string,
    private readonly logger: ReloadLogger,
  ) {
    this.current = AccessMap.load(file);
  }

  /** The map in force. */
  readonly get = (): AccessMap => this.current;

  /** Re-reads the file: the new map when it validates, else the old one stays (and the error is logged). */
  reload(reason: string): ReloadOutcome {
    let next: AccessMap;
    try {
      next = AccessMap.load(this.file);
    } catch (error) {
      const message = error instanceof AccessMapError ? error.message : String(error);
      this.logger.error({ accessMap: this.file, reason }, `access map not reloaded, the previous one stays in force: ${message}`);
      return { ok: false, error: message };
    }
    const changed = JSON.stringify(next.toJSON()) !== JSON.stringify(this.current.toJSON());
    this.current = next;
    this.logger.info({ accessMap: this.file, reason, changed }, changed ? 'access map reloaded' : 'access map reloaded (unchanged)');
    return { ok: true, changed };
  }

  /** Reload on SIGHUP (production and development). */
  reloadOnSighup(): this {
    process.on('SIGHUP', this.onSighup);
    return this;
  }

  /**
   * Also reload when the file changes (the worker and the ingress do, in every environment: the
   * console's Setup saves the file from one process, the others follow). Polled by its
   * modification time, which survives a save that writes a new file and renames it over the old
   * one (editors, and Setup's atomic write) and works on bind mounts, where change events may not.
   */
  watchFile(intervalMs = 500): this {
    this.watching = true;
    fs.watchFile(this.file, { interval: intervalMs, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs) this.reload('file changed');
    });
    return this;
  }

  close(): void {
    process.off('SIGHUP', this.onSighup);
    if (this.watching) fs.unwatchFile(this.file);
  }
}
