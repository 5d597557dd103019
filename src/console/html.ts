/**
 * How console pages are written: `html` tagged templates (htm) building Preact elements, rendered
 * to a string on the server (preact-render-to-string). Every interpolated value is escaped by the
 * renderer, in text and in attributes alike: no page escapes anything by hand, and no page may use
 * `dangerouslySetInnerHTML`.
 */
import { h, type ComponentChildren, type VNode } from 'preact';
import htm from 'htm';
import { render } from 'preact-render-to-string';

/** A template's result: one element, or several side by side. */
export type Html = VNode | VNode[] | ComponentChildren;

export const html: (strings: TemplateStringsArray, ...values: unknown[]) => Html = htm.bind(h);

/** A piece of a page (a page's script puts it in place), rendered and escaped by Preact. */
export function renderFragment(node: Html): string {
  return node === null || node === undefined ? '' : render(node as VNode);
}

/** A whole document: the doctype, then the element rendered (and escaped) by Preact. */
export function renderDocument(root: Html): string {
  return `<!doctype html>\n${render(root as VNode)}`;
}
