/**
 * The frame of every console page: a skip link, the navigation (Setup, Access now, Problems) with
 * the current page marked, sign-out, the notice of the last change, then the page's own content.
 * Styles and scripts come from /console/assets (the Content-Security-Policy allows nothing inline).
 */
import type { Response } from 'express';
import type { PageContext } from './context';
import { html, renderDocument, type Html } from './html';
import { assetUrl } from './assets';
import { CONSOLE_PATHS } from './paths';

export const NAV = [
  { href: CONSOLE_PATHS.setup, label: 'Setup' },
  { href: CONSOLE_PATHS.access, label: 'Access now' },
  { href: CONSOLE_PATHS.problems, label: 'Problems' },
] as const;

export interface PageOptions {
  title: string;
  body: Html;
  status?: number;
  /** Scripts of this page, by asset name (src/console/assets.ts). */
  scripts?: string[];
}

/** A page inside the console, for a signed-in operator. */
export function sendPage(res: Response, ctx: PageContext, options: PageOptions): void {
  const nav = html`
    <header class="top">
      <a class="skip" href="#main">Skip to content</a>
      <span class="brand">Door access</span>
      <nav aria-label="Console">
        <ul>
          ${NAV.map((item) => html`<li><a href=${item.href} aria-current=${ctx.path.startsWith(item.href) ? 'page' : undefined}>${item.label}</a></li>`)}
        </ul>
      </nav>
      <form method="post" action="/console/sign-out" class="sign-out">
        <input type="hidden" name="_csrf" value=${ctx.csrfToken} />
        <button type="submit">Sign out</button>
      </form>
    </header>`;
  const notice = ctx.notice
    ? html`<p class=${`notice ${ctx.notice.kind}`} role=${ctx.notice.kind === 'error' ? 'alert' : 'status'}>${ctx.notice.text}</p>`
    : null;
  sendDocument(res, options.status ?? 200, options.title, html`${nav}<main id="main">${notice}${options.body}</main>`, options.scripts);
}

/** A page outside the console proper (sign-in, the console is off, refusals). */
export function sendBarePage(res: Response, status: number, title: string, body: Html): void {
  sendDocument(res, status, title, html`<main id="main" class="bare">${body}</main>`);
}

function sendDocument(res: Response, status: number, title: string, content: Html, scripts: string[] = []): void {
  const doc = html`
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Door access console</title>
        <link rel="stylesheet" href=${assetUrl('console.css')} />
        ${scripts.map((name) => html`<script src=${assetUrl(name)} defer></script>`)}
      </head>
      <body>
        ${content}
      </body>
    </html>`;
  res.status(status).type('html').setHeader('Cache-Control', 'no-store');
  res.send(renderDocument(doc));
}
