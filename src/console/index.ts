/**
 * The operator console, as the ingress mounts it: `consoleFor(options)` gives the ingress
 * (src/ingress/assemble.ts, option `console`) a function from its parts to the console's routes.
 * Each page lives in its own module and adds its routes behind sign-in and CSRF protection.
 */
import type { Router } from 'express';
import type { IngressParts } from '../ingress/assemble';
import type { ConsoleOptions } from './context';
import { consoleRouter, type PageRoutes } from './router';

export type { ConsoleOptions } from './context';

export function consoleFor(options: ConsoleOptions): (parts: IngressParts) => Router {
  return (parts) => {
    const deps = { ...parts, ...options };
    const pages: PageRoutes[] = [];
    return consoleRouter(deps, pages);
  };
}
