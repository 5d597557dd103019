/**
 * Saving the access map from the console: in the file's own format (JSON stays JSON, YAML stays
 * YAML: serializeMap, as `npm run access-map -- --write` writes it), atomically (write-file-atomic:
 * a temporary file in the same directory, flushed, then renamed over the map), so a process that
 * reads the file at any moment (a worker watching it, a SIGHUP) sees the old map or the new one,
 * never half of one. Where the file cannot be written (the compose stack mounts it read-only), the
 * console offers it to download instead: `writability` says which, before anything is tried.
 */
import fs from 'node:fs';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { AccessMapFile } from '../../config/access-map';
import { serializeMap } from '../../link/starter';

export type Writability = { writable: true; file: string } | { writable: false; file?: string; reason: string };

/** Error codes that mean "this file cannot be replaced here" rather than "something broke". */
const READ_ONLY_CODES = new Set(['EROFS', 'EACCES', 'EPERM', 'EBUSY', 'EXDEV']);

/**
 * Whether Save can replace the map file: the process was told its file, the file may be written
 * and its directory too (the temporary file goes there). A read-only mount answers EROFS.
 */
export function writability(file: string | undefined): Writability {
  if (file === undefined) return { writable: false, reason: 'this process was not given the access map\u2019s file' };
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
  } catch (error) {
    return { writable: false, file, reason: describe(error) };
  }
  return { writable: true, file };
}

export type WriteOutcome = { written: true } | { written: false; readOnly: boolean; reason: string };

/** Replaces the map file with `map`, atomically, in the file's format. */
export async function writeMapAtomically(file: string, map: AccessMapFile): Promise<WriteOutcome> {
  try {
    await writeFileAtomic(file, serializeMap(file, map), { encoding: 'utf8', fsync: true });
    return { written: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file that is a mount point of its own (a single-file bind mount) cannot be renamed over: EBUSY.
    return { written: false, readOnly: code !== undefined && READ_ONLY_CODES.has(code), reason: describe(error) };
  }
}

/** The file name and content type a download of the map gets: the map's own name and format. */
export function downloadOf(file: string | undefined, map: AccessMapFile): { name: string; type: string; body: string } {
  const name = file ? path.basename(file) : 'access-map.json';
  const yaml = /\.ya?ml$/i.test(name);
  return { name, type: yaml ? 'application/yaml' : 'application/json', body: serializeMap(name, map) };
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    EROFS: 'it is on a read-only file system (a read-only mount)',
    EACCES: 'this process may not write it',
    EPERM: 'this process may not write it',
    ENOENT: 'it does not exist',
    EBUSY: 'it is a mount of its own and cannot be replaced from inside',
    EXDEV: 'it is a mount of its own and cannot be replaced from inside',
  };
  return code && reasons[code] ? `${reasons[code]} (${code})` : (error as Error).message;
}
