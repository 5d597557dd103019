/**
 * The console's one style sheet: readable on a phone (one column below 40rem, tables scroll
 * sideways), contrast at least 4.5:1 for text (WCAG AA), focus always visible.
 */
export const CONSOLE_CSS = `
:root { --ink: #1b1f24; --muted: #4a5360; --line: #c9ced6; --bg: #ffffff; --panel: #f4f6f8; --accent: #0b57d0; --ok: #146c2e; --bad: #b3261e; --warn: #7a4f00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 0.5rem; top: 0.5rem; background: var(--bg); padding: 0.25rem 0.5rem; z-index: 2; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem; padding: 0.75rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
.brand { font-weight: 700; }
.top nav ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; margin: 0; padding: 0; }
.top nav a[aria-current="page"] { font-weight: 700; color: var(--ink); text-decoration-thickness: 3px; }
.sign-out { margin-left: auto; }
main { padding: 1rem; max-width: 72rem; }
main.bare { max-width: 32rem; margin: 3rem auto; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
button, .button { font: inherit; padding: 0.4rem 0.9rem; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: var(--bg); color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
input, select, textarea { font: inherit; padding: 0.35rem 0.5rem; border: 1px solid var(--muted); border-radius: 4px; max-width: 100%; }
label { display: block; font-weight: 600; margin: 0.5rem 0 0.25rem; }
.field { margin-bottom: 0.75rem; }
.hint { color: var(--muted); font-size: 0.9rem; }
.notice { padding: 0.5rem 0.75rem; border-radius: 4px; border: 1px solid; }
.notice.ok { color: var(--ok); border-color: var(--ok); background: #eef7f0; }
.notice.error { color: var(--bad); border-color: var(--bad); background: #fcefee; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); }
th { background: var(--panel); }
.state-active { color: var(--ok); font-weight: 600; }
.state-needs-attention, .bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); }
.filters { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: flex-end; }
.filters .field { margin: 0; max-width: 100%; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.actions form { margin: 0; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }
.toc { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; list-style: none; margin: 0 0 1rem; padding: 0; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.5rem 0 1rem; }
.facts dt { font-weight: 600; }
.facts dd { margin: 0; }
.summary { overflow-wrap: anywhere; }
section { margin-bottom: 2rem; }
@media (max-width: 40rem) {
  .top { gap: 0.5rem 1rem; }
  main { padding: 0.75rem; }
  th, td { padding: 0.3rem 0.4rem; }
  .facts { grid-template-columns: 1fr; }
  .facts dd { margin-bottom: 0.5rem; }
}
`;
