/**
 * What every benchmark result must look like, and the files it writes: the smoke tests hold each
 * benchmark's small run against this (shape only: timings on a shared machine prove nothing).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { writeResult, type BenchResult } from '../../bench/lib/results';

const machineSchema = z.object({
  cores: z.number().int().positive(),
  cpu: z.string().min(1),
  memoryGiB: z.number().positive(),
  platform: z.string().min(1),
  node: z.string().regex(/^v\d+\./),
  temporalSdk: z.string().regex(/^\d+\.\d+\.\d+/),
  temporalCli: z.string().regex(/temporal version \d/),
  loadAverageAtStart: z.number().min(0),
  commit: z.string().min(1),
  measuredAt: z.iso.datetime(),
});

export const benchResultSchema = z.object({
  name: z.string().min(1),
  machine: machineSchema,
  parameters: z.record(z.string(), z.unknown()),
  rows: z
    .array(z.object({ what: z.string().min(1), value: z.string().min(1), target: z.string().optional(), met: z.boolean().optional() }))
    .min(1),
  details: z.record(z.string(), z.unknown()),
  notes: z.array(z.string()),
});

/** Checks the result's shape, writes it to a temporary directory and checks both files; returns the rows by label. */
export function expectWellFormed(result: BenchResult, name: string): Map<string, BenchResult['rows'][number]> {
  const parsed = benchResultSchema.safeParse(result);
  if (!parsed.success) throw new Error(`${name}: malformed result: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  expect(result.name).toBe(name);
  // A figure that failed to compute shows up as NaN or undefined in its text.
  for (const row of result.rows) expect(row.value).not.toMatch(/NaN|undefined|Infinity/);
  // In the details JSON would turn such a figure into null without a word: name them instead.
  expect(nonFiniteNumbers(result)).toEqual([]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
  try {
    const files = writeResult(result, dir);
    expect(benchResultSchema.parse(JSON.parse(fs.readFileSync(files.json, 'utf8')))).toEqual(JSON.parse(JSON.stringify(result)));
    const markdown = fs.readFileSync(files.markdown, 'utf8');
    expect(markdown).toContain(`# Benchmark: ${name}`);
    for (const row of result.rows) expect(markdown).toContain(`| ${row.what} |`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return new Map(result.rows.map((r) => [r.what, r]));
}

/** Paths of numbers that JSON cannot hold (NaN, ±Infinity), anywhere in the value. */
function nonFiniteNumbers(value: unknown, at = '$'): string[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [`${at} = ${value}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFiniteNumbers(v, `${at}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => nonFiniteNumbers(v, `${at}.${k}`));
  return [];
}
