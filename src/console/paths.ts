/**
 * The console's addresses, in one place: pages link to each other's actions through these, and a
 * form may say where to come back to after a change (`back`), which must be a console page.
 */
export const CONSOLE_PATHS = {
  signIn: '/console/sign-in',
  setup: '/console/setup',
  access: '/console/access',
  problems: '/console/problems',
  /** POST: send the grant the retry signal (form fields `_csrf`, optional `back`). */
  grantRetry: (workflowId: string) => `/console/access/${encodeURIComponent(workflowId)}/retry`,
  /** GET: the confirmation naming the customer and the doors; POST: cancel (revokes). */
  grantCancel: (workflowId: string) => `/console/access/${encodeURIComponent(workflowId)}/cancel`,
} as const;

/** Where to go back to after a change: `back` when it is a console page of this origin, else `fallback`. */
export function backTo(back: unknown, fallback: string): string {
  if (typeof back !== 'string') return fallback;
  // A path on this origin only: no scheme, no `//host`, no backslash tricks.
  return /^\/console(\/[\w\-./%?=&]*)?$/.test(back) && !back.includes('//') && !back.includes('..') ? back : fallback;
}

/** The grant's workflow in the Temporal Web UI, when the deployment says where the UI is. */
export function temporalWorkflowUrl(ui: { temporalUiUrl?: string; namespace: string }, workflowId: string): string | undefined {
  if (!ui.temporalUiUrl) return undefined;
  return `${ui.temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
