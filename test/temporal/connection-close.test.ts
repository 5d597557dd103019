/**
 * Closing a client connection while a call waits to retry (Temporal down) must end that call, not
 * the process. With the SDK's default interceptors the pending retry throws "Channel has been shut
 * down" from a timer after close (an uncaught exception: it failed an unrelated suite in CI and
 * would crash an ingress shut down mid-outage). closeSafeInterceptors() ends it as CANCELLED.
 */
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { status } from '@grpc/grpc-js';
import { closeSafeInterceptors, connectClient } from '../../src/temporal/connection';
import { freePort } from '../../dev/lib/ports';

jest.setTimeout(30_000);

test('a call waiting to retry when its connection closes is rejected as CANCELLED and nothing is thrown later', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: closeSafeInterceptors() });
    const call = connection.workflowService.getSystemInfo({}).then(
      () => 'answered',
      (error: unknown) => error,
    );
    // Nothing listens: the first attempts fail UNAVAILABLE at once and the retry interceptor waits.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await connection.close();
    const outcome = await call;
    expect(isGrpcServiceError(outcome)).toBe(true);
    expect((outcome as { code: number }).code).toBe(status.CANCELLED);
    expect(String((outcome as Error).message)).toMatch(/connection closed/);
    // Longer than the retry interceptor's largest backoff (5 s with jitter): any timer left fires here.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    expect(uncaught).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('the product\'s client connection carries the guard', async () => {
  const { connection } = connectClient({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, TEMPORAL_NAMESPACE: 'default' } as Parameters<typeof connectClient>[0]);
  const call = connection.workflowService.getSystemInfo({}).then(
    () => 'answered',
    (error: unknown) => error,
  );
  await new Promise((resolve) => setTimeout(resolve, 400));
  await connection.close();
  expect((await call) as { code: number }).toMatchObject({ code: status.CANCELLED });
});
