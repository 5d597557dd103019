/**
 * What the console needs from the rest of the product, and what each page is told about the
 * request it answers. The console has no store of its own: grants come from Temporal's visibility
 * and the grants' own queries, events from the inbox, the map from its file.
 */
import type { IngressParts } from '../ingress/assemble';
import type { InventorySource } from './inventory';

/** How a deployment runs its console (src/main/ingress.ts from the environment; tests their own). */
export interface ConsoleOptions {
  /** Secure cookies: everywhere but development and test (plain http on loopback). */
  secureCookies: boolean;
  namespace: string;
  /** The Temporal Web UI's address, for links to a grant's workflow (none: no links). */
  temporalUiUrl?: string;
  /** How long a session lasts without use (ms, default 8 hours). */
  sessionIdleMs?: number;
  /** How long a page waits for the worker's inventory before it shows ids without names (ms, default 10 s). */
  inventoryWaitMs?: number;
}

/**
 * Everything a console page may use: the ingress' parts (its client and task queue, inbox, access
 * map, the operator token rule shared with /reports and /ops) and the console's options.
 */
export type ConsoleDeps = IngressParts & ConsoleOptions & { inventory: InventorySource };

/** Said to every page: who is signed in and the CSRF token its forms must carry. */
export interface PageContext {
  csrfToken: string;
  /** The request path (for the navigation's current page). */
  path: string;
  /** A one-line outcome of the last change (shown once, after a redirect). */
  notice?: Notice;
}

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}
