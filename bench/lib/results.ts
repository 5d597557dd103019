/**
 * Results of a benchmark: one JSON file (everything measured, with the machine it ran on) and one
 * markdown table under bench/results/, written by the script itself so the committed numbers are
 * exactly what it printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeMachine, type MachineInfo } from './machine';

export const DEFAULT_RESULTS_DIR = path.join(__dirname, '..', 'results');

export interface TableRow {
  what: string;
  value: string;
  target?: string;
  /** undefined: no target for this row. */
  met?: boolean;
}

export interface BenchResult {
  name: string;
  machine: MachineInfo;
  parameters: Record<string, unknown>;
  rows: TableRow[];
  /** Everything else the run measured, for whoever wants to dig. */
  details: Record<string, unknown>;
  notes: string[];
}

export function markdownOf(result: BenchResult): string {
  const hasTargets = result.rows.some((r) => r.target !== undefined);
  const header = hasTargets ? '| What | Measured | Target | Met |\n| --- | --- | --- | --- |' : '| What | Measured |\n| --- | --- |';
  const rows = result.rows.map((r) =>
    hasTargets ? `| ${r.what} | ${r.value} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |` : `| ${r.what} | ${r.value} |`,
  );
  const params = Object.entries(result.parameters)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  return [
    `# Benchmark: ${result.name}`,
    '',
    `Measured ${result.machine.measuredAt} on ${describeMachine(result.machine)}.`,
    '',
    `Parameters: ${params}`,
    '',
    header,
    ...rows,
    '',
    ...result.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/** Writes `<dir>/<name>.json` and `<dir>/<name>.md`; returns their paths. */
export function writeResult(result: BenchResult, dir = DEFAULT_RESULTS_DIR): { json: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${result.name}.json`);
  const markdown = path.join(dir, `${result.name}.md`);
  fs.writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(markdown, markdownOf(result));
  return { json, markdown };
}

export function printResult(result: BenchResult, log: (line: string) => void = console.log): void {
  log(`\n== ${result.name}: ${describeMachine(result.machine)}`);
  const width = Math.max(...result.rows.map((r) => r.what.length));
  for (const r of result.rows) {
    const verdict = r.met === undefined ? '' : r.met ? '  [target met]' : '  [TARGET MISSED]';
    log(`  ${r.what.padEnd(width)}  ${r.value}${r.target ? `  (target ${r.target})` : ''}${verdict}`);
  }
  for (const n of result.notes) log(`  - ${n}`);
}
