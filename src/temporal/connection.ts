/**
 * The one place that turns the environment into Temporal connections and clients, for the client
 * (ingress, CLI tools) and the worker alike, so that TLS / API key handling and the payload codec
 * (src/temporal/payload-codec.ts) cannot drift apart: every client and worker of the product, its
 * benches and its test harnesses is built here, with the same data converter.
 */
import fs from 'node:fs';
import { InterceptingCall, Metadata, status as grpcStatus, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';
import type { DataConverter, Payload } from '@temporalio/common';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError, type Env } from '../config/env';
import { AesGcmPayloadCodec, payloadKeyRingFromEnv, type PayloadKeyEnv, type PayloadKeyRing } from './payload-codec';

/** The part of the environment the connection needs (tests pass just this). */
export type TemporalEnv = Pick<
  Env,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_API_KEY' | 'TEMPORAL_TLS_CERT_PATH' | 'TEMPORAL_TLS_KEY_PATH' | 'TEMPORAL_TLS_CA_PATH'
> & { TEMPORAL_PORT?: number } & Partial<PayloadKeyEnv>;

/**
 * The data converter of every client and worker: the default converters, with the AES-GCM payload
 * codec when keys are configured. Workers must be given the same (Worker.create's `dataConverter`),
 * and so must replays of encrypted histories.
 */
export function dataConverterFor(ring: PayloadKeyRing | undefined): DataConverter {
  return ring ? { payloadCodecs: [new AesGcmPayloadCodec(ring)] } : {};
}

/** The data converter the environment configures (TEMPORAL_PAYLOAD_KEY / TEMPORAL_PAYLOAD_KEY_FILE). */
export function dataConverterFromEnv(env: Partial<PayloadKeyEnv>): DataConverter {
  return dataConverterFor(payloadKeyRingFromEnv(env));
}

/** A client on a connection, with the product's data converter (keys given: payloads encrypted). */
export function newClient(connection: Connection, options: { namespace?: string; payloadKeys?: PayloadKeyRing } = {}): Client {
  return new Client({ connection, namespace: options.namespace ?? 'default', dataConverter: dataConverterFor(options.payloadKeys) });
}

/** Raw payloads (from a fetched history) through the client's codecs, then to values. */
export async function decodePayload<T>(client: Client, payload: Payload): Promise<T> {
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  let decoded = [payload];
  for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
  return payloadConverter.fromPayload<T>(decoded[0]!);
}

type TlsConfig = Exclude<NonNullable<ConnectionOptions['tls']>, boolean>;

export interface TemporalConnectionOptions {
  address: string;
  namespace: string;
  /** undefined: plaintext (the local dev server); an object: TLS, with mTLS when a client pair is present. */
  tls?: TlsConfig;
  apiKey?: string;
}

/** Where Temporal is: TEMPORAL_ADDRESS, else the local dev server on TEMPORAL_PORT (7233). */
export function temporalAddress(env: TemporalEnv): string {
  return env.TEMPORAL_ADDRESS ?? `localhost:${env.TEMPORAL_PORT ?? 7233}`;
}

/**
 * Builds the options. TLS is on when any TLS file or an API key is configured (Temporal Cloud
 * with an API key requires TLS without a client certificate). Cert and key come as a pair.
 */
export function temporalConnectionOptions(env: TemporalEnv): TemporalConnectionOptions {
  const certPath = env.TEMPORAL_TLS_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_KEY_PATH;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new ConfigError(['TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH: expected both (mTLS client certificate and its key) or neither']);
  }
  let tls: TlsConfig | undefined;
  if (certPath || env.TEMPORAL_TLS_CA_PATH || env.TEMPORAL_API_KEY) {
    tls = {};
    if (certPath && keyPath) tls.clientCertPair = { crt: readFile('TEMPORAL_TLS_CERT_PATH', certPath), key: readFile('TEMPORAL_TLS_KEY_PATH', keyPath) };
    if (env.TEMPORAL_TLS_CA_PATH) tls.serverRootCACertificate = readFile('TEMPORAL_TLS_CA_PATH', env.TEMPORAL_TLS_CA_PATH);
  }
  return { address: temporalAddress(env), namespace: env.TEMPORAL_NAMESPACE, tls, apiKey: env.TEMPORAL_API_KEY };
}

function readFile(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new ConfigError([`${variable}: expected a readable PEM file, could not read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

function clientOptions(options: TemporalConnectionOptions): ConnectionOptions {
  return { address: options.address, tls: options.tls ?? false, apiKey: options.apiKey, interceptors: closeSafeInterceptors() };
}

/**
 * The SDK's default retry interceptor, made safe to close under. Its backoff timer is not cleared
 * by `Connection.close()`: a call that was waiting to retry (Temporal down, a shutdown mid-outage)
 * then asks the closed channel for a new call, which throws "Channel has been shut down" from a
 * timer, an uncaught exception that kills the process. The guard sits inside the retry
 * interceptor and ends such a retry as CANCELLED instead, so the caller gets a rejected promise.
 * Every client Connection the product or its tests make uses these interceptors.
 */
export function closeSafeInterceptors(): Interceptor[] {
  return [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), closedChannelGuard];
}

const closedChannelGuard: Interceptor = (options, nextCall) => {
  try {
    return new InterceptingCall(nextCall(options));
  } catch (error) {
    if (!(error instanceof Error) || !/Channel has been shut down/.test(error.message)) throw error;
    return endedCall('Temporal connection closed before the call could be retried');
  }
};

/** A call that never reaches a channel: it ends with CANCELLED as soon as it is started. */
function endedCall(details: string): InterceptingCall {
  const unused = new Error('a call on a closed connection has no transport');
  const nowhere = {
    cancelWithStatus: () => undefined,
    getPeer: () => '',
    start: () => {
      throw unused;
    },
    sendMessageWithContext: () => undefined,
    sendMessage: () => undefined,
    startRead: () => undefined,
    halfClose: () => undefined,
    getAuthContext: () => null,
  };
  return new InterceptingCall(nowhere as unknown as ConstructorParameters<typeof InterceptingCall>[0], {
    start: (_metadata, listener) => {
      setImmediate(() => listener.onReceiveStatus({ code: grpcStatus.CANCELLED, details, metadata: new Metadata() }));
    },
    sendMessage: () => undefined,
    halfClose: () => undefined,
  });
}

function workerOptions(options: TemporalConnectionOptions): NativeConnectionOptions {
  return { address: options.address, tls: options.tls ?? false, apiKey: options.apiKey };
}

/**
 * A client whose connection is made lazily: the ingress starts and answers /healthz even while
 * Temporal is down, and /readyz reports it.
 */
export function connectClient(env: TemporalEnv): { client: Client; connection: Connection } {
  const options = temporalConnectionOptions(env);
  const payloadKeys = payloadKeyRingFromEnv(env);
  const connection = Connection.lazy(clientOptions(options));
  return { client: newClient(connection, { namespace: options.namespace, payloadKeys }), connection };
}

/** A client connection (lazy) to a given address, with the product's interceptors: tests and benches. */
export function lazyConnection(address: string): Connection {
  return Connection.lazy({ address, interceptors: closeSafeInterceptors() });
}

/** The worker's native connection; retries until `timeoutMs` so a worker can start before its server answers. */
export async function connectWorker(env: TemporalEnv, timeoutMs = 60_000): Promise<NativeConnection> {
  const options = workerOptions(temporalConnectionOptions(env));
  const deadline = Date.now() + timeoutMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await NativeConnection.connect(options);
    } catch (error) {
      if (Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** True when the server answers a cheap call within `deadlineMs` (used by /readyz). */
export async function isTemporalReachable(connection: Connection, deadlineMs = 2_000): Promise<boolean> {
  try {
    await connection.withDeadline(Date.now() + deadlineMs, () => connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
