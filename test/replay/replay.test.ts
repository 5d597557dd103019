/**
 * Replays the committed histories of real workflow runs (recorded from the workflow tests by
 * `npm run replay:record`) against the workflow code in the working tree. A change that would
 * make a running grant non-deterministic fails here, before it is deployed; such a change needs
 * `patched()` (see docs/development.md, Replay generations).
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle as bundleWorkflows } from '../helpers/workflow-bundle';

jest.setTimeout(300_000);

const ROOT = path.join(__dirname, 'histories');

function historyFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return historyFiles(full);
    return entry.name.endsWith('.json') ? [full] : [];
  });
}

test('every committed history replays deterministically against the current workflow code', async () => {
  const files = historyFiles(ROOT).sort();
  // Guard against an empty folder silently passing: the recordings cover every workflow type.
  expect(files.length).toBeGreaterThanOrEqual(40);
  const types = new Set<string>();
  const histories = files.map((file) => {
    // Stored as protobuf's JSON form of History (see recordHistories in test/helpers/grant-harness.ts).
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(file, 'utf8')));
    types.add(history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?');
    // The workflow id matters (a grant recognises notices addressed to it): it is the file name,
    // before the run id suffix of earlier runs in a continue-as-new chain.
    return { workflowId: path.basename(file).split('.')[0]!, history, file: path.relative(ROOT, file) };
  });
  expect([...types].sort()).toEqual(expect.arrayContaining(['bookingGrant', 'contractGrant', 'customerSyncWorkflow', 'membershipWorkflow', 'passGrant']));

  const workflowBundle = await bundleWorkflows();
  const failures: string[] = [];
  let replayed = 0;
  // One at a time, so a failure names its file.
  for (const { workflowId, history, file } of histories) {
    for await (const result of Worker.runReplayHistories({ workflowBundle }, [{ workflowId, history }])) {
      replayed++;
      if (result.error) failures.push(`${file}: ${result.error.message}`);
    }
  }
  expect(replayed).toBe(files.length);
  expect(failures).toEqual([]);
});
