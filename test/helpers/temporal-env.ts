/**
 * Test environments on genuine Temporal servers, resolved through dev/temporal-binaries
 * (so a broken toolchain fails loudly here rather than falling back to a mock).
 */
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';

/** The time-skipping server, with the product's search attributes registered (grants upsert them). */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const executable = await resolveExecutable('test-server');
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: stripSource(executable) } });
  const searchAttributes = Object.fromEntries(
    SEARCH_ATTRIBUTE_KEYS.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}` as keyof typeof temporal.api.enums.v1.IndexedValueType]]),
  );
  await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes });
  return env;
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
