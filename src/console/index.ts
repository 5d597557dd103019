/**
 * The operator console, as the ingress mounts it: `consoleFor(options)` gives the ingress
 * (src/ingress/assemble.ts, option `console`) a function from its parts to the console's routes.
 * Each page lives in its own module and adds its routes behind sign-in and CSRF protection.
 */
import type { Router } from 'express';
import type { IngressParts } from '../ingress/assemble';
import type { ConsoleOptions } from './context';
import { consoleRouter, type PageRoutes } from './router';
import { InventorySource } from './inventory';
import { accessPage } from './pages/access';
import { problemsPage } from './pages/problems';
import { setupPage } from './pages/setup';

export type { ConsoleOptions } from './context';

export function consoleFor(options: ConsoleOptions): (parts: IngressParts) => Router {
  return (parts) => {
    const inventory = new InventorySource({ client: parts.client, taskQueue: parts.taskQueue, accessMap: parts.accessMap });
    const deps = { ...parts, ...options, inventory };
    const pages: PageRoutes[] = [setupPage(deps), accessPage(deps), problemsPage(deps)];
    return consoleRouter(deps, pages);
  };
}
