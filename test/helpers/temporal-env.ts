/**
 * Test environments on genuine Temporal servers, resolved through src/temporal/binaries.ts
 * (so a broken toolchain fails loudly here rather than falling back to a mock).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveExecutable } from '../../src/temporal/binaries';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const executable = await resolveExecutable('test-server');
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: stripSource(executable) } });
}

export async function createDevServerEnv(options: { dbFilename?: string; port?: number } = {}): Promise<TestWorkflowEnvironment> {
  const executable = await resolveExecutable('cli');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: stripSource(executable),
      dbFilename: options.dbFilename,
      port: options.port,
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      log: { format: 'pretty', level: 'error' },
    },
  });
}

function stripSource(executable: Awaited<ReturnType<typeof resolveExecutable>>) {
  return executable.type === 'existing-path'
    ? { type: 'existing-path' as const, path: executable.path }
    : { type: 'cached-download' as const, downloadDir: executable.downloadDir };
}
