/**
 * The Kisi contract check: requests and answers held against Kisi's OpenAPI description
 * (./kisi-openapi/, vendored unchanged) plus our own cards fragment (./kisi-cards-subset.yml).
 *
 * Validator: openapi-backend's router (path + method matching, path/query parsing) and request /
 * response validators, with the JSON Schema engine swapped for Ajv's draft 2020-12 class (what
 * OpenAPI 3.1 schemas are) plus ajv-formats. openapi-backend's own check of the whole document is
 * not used: it only knows the 3.0 meta-schema and would reject 3.1 `type: [x, 'null']`.
 *
 * Changes made in memory (the files stay as published; each is explained where it is made):
 *  1. `openapi: 3.2.0` of the split files -> `3.1.0` in the merged document (Kisi's original says
 *     3.1.0; the validator does not read the string).
 *  2. Request bodies are closed: objects that list `properties` get `additionalProperties: false`.
 *  3. Erratum for PATCH /role_assignments/{id}'s request body.
 *  4. `X-Collection-Range: *\/N` is accepted on an empty page (Kisi's docs), besides the spec's `a-b/N`.
 *  5. PATCH /users/{id} may answer 422 with the `Errors` body (as POST /users declares it).
 *  Answers with 429 or 5xx are accepted on every operation (the split declares neither; Kisi's docs
 *  describe both), with the `Error` body.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { OpenAPIRouter, OpenAPIValidator, type Operation } from 'openapi-backend';
import YAML from 'yaml';
import type { KisiExchange } from '../../src/clients/kisi';
import type { SandboxExchange } from '../../dev/sandbox/kisi';

type Json = Record<string, unknown>;

export const KISI_SPEC_DIR = join(__dirname, 'kisi-openapi');
export const KISI_CARDS_FRAGMENT = join(__dirname, 'kisi-cards-subset.yml');

export interface KisiContractRequest {
  method: string;
  /** Path without query string, e.g. `/role_assignments/12`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface KisiContractResponse extends KisiContractRequest {
  status: number;
  responseHeaders?: Record<string, string>;
  responseBody?: unknown;
}

interface Contract {
  router: OpenAPIRouter;
  validator: OpenAPIValidator;
  errorSchemaCheck: (body: unknown) => string[];
}

let cached: Contract | undefined;

/** Builds (once) the merged, dereferenced description and its validators. */
export function kisiContract(options: { raw?: boolean } = {}): Contract {
  if (!options.raw && cached) return cached;
  const docs = [
    ...readdirSync(KISI_SPEC_DIR)
      .filter((f) => f.endsWith('.yml'))
      .sort()
      .map((f) => join(KISI_SPEC_DIR, f)),
    KISI_CARDS_FRAGMENT,
  ];
  const paths: Json = {};
  for (const file of docs) {
    const doc = YAML.parse(readFileSync(file, 'utf8')) as Json;
    // Dereference each file against its own components, so same-named components never clash.
    const resolved = dereference(doc, doc) as Json;
    for (const [path, item] of Object.entries(resolved.paths as Json)) {
      if (path in paths) throw new Error(`kisi contract: ${path} is described twice (${file})`);
      paths[path] = item;
    }
  }
  const definition = { openapi: '3.1.0', info: { title: 'Kisi API (merged for contract tests)', version: '1.0.0' }, paths };
  if (!options.raw) {
    closeRequestBodies(definition.paths);
    applyErrata(definition.paths);
  }
  const router = new OpenAPIRouter({ definition: definition as never, apiRoot: '/' });
  const validator = new OpenAPIValidator({
    definition: definition as never,
    router,
    lazyCompileValidators: true,
    // OpenAPI 3.1 schemas are JSON Schema 2020-12: use that dialect, with string formats checked.
    customizeAjv: (_ajv, ajvOpts) => {
      const ajv = new Ajv2020({ ...ajvOpts, strict: false, allErrors: true });
      addFormats(ajv);
      for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) ajv.addFormat(f, true);
      return ajv as never;
    },
  });
  const errorAjv = new Ajv2020({ strict: false, allErrors: true });
  const errorValidate = errorAjv.compile({ type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string' } } });
  const contract: Contract = {
    router,
    validator,
    errorSchemaCheck: (body) => (errorValidate(body) ? [] : (errorValidate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)),
  };
  if (!options.raw) cached = contract;
  return contract;
}

/** The operation a request targets, or undefined for a path/method the description does not have. */
export function matchKisiOperation(method: string, path: string, contract = kisiContract()): Operation | undefined {
  return contract.router.matchOperation({ method: method.toLowerCase(), path, headers: {} });
}

/**
 * Problems with a request (empty = it conforms): unknown path or method, a query parameter the
 * operation does not declare or with a wrong type/range, a body field the spec does not allow,
 * missing Kisi auth / JSON headers.
 */
export function validateKisiRequest(req: KisiContractRequest, contract = kisiContract()): string[] {
  const where = `${req.method.toUpperCase()} ${req.path}`;
  const operation = matchKisiOperation(req.method, req.path, contract);
  if (!operation) return [`${where}: no such operation in the Kisi description`];
  const problems: string[] = [];
  const headers = lowerKeys(req.headers ?? {});
  if (!/^KISI-LOGIN \S+/.test(headers.authorization ?? '')) problems.push(`${where}: Authorization is not "KISI-LOGIN <key>"`);
  if (!(headers.accept ?? '').includes('application/json')) problems.push(`${where}: Accept is not application/json`);
  if (req.body !== undefined && !(headers['content-type'] ?? '').startsWith('application/json')) problems.push(`${where}: body sent without Content-Type application/json`);
  if (req.body !== undefined && !operation.requestBody) problems.push(`${where}: ${operation.operationId} takes no body`);
  const result = contract.validator.validateRequest(
    { method: req.method.toLowerCase(), path: req.path, query: { ...(req.query ?? {}) }, headers: { ...headers }, body: req.body as never },
    operation,
  );
  for (const e of result.errors ?? []) problems.push(`${where} (${operation.operationId}): ${e.instancePath || '/'} ${e.message ?? ''}${paramsNote(e.params)}`);
  return problems;
}

/** Problems with an answer: undeclared status, body not matching that status' schema, bad paging header. */
export function validateKisiResponse(x: KisiContractResponse, contract = kisiContract()): string[] {
  const where = `${x.method.toUpperCase()} ${x.path} -> ${x.status}`;
  const operation = matchKisiOperation(x.method, x.path, contract);
  if (!operation) return [`${where}: no such operation in the Kisi description`];
  const responses = (operation.responses ?? {}) as Record<string, Json>;
  const declared = responses[String(x.status)] ?? responses[`${String(x.status)[0]}XX`] ?? responses.default;
  if (!declared) {
    // Throttling and server errors can come from any operation (Kisi's docs); the split omits them.
    if (x.status === 429 || x.status >= 500) return x.responseBody === undefined ? [] : contract.errorSchemaCheck(x.responseBody).map((p) => `${where}: ${p}`);
    return [`${where}: status ${x.status} is not declared for ${operation.operationId}`];
  }
  const problems: string[] = [];
  const content = declared.content as Json | undefined;
  if (!content) {
    if (x.responseBody !== undefined && x.responseBody !== '') problems.push(`${where}: ${operation.operationId} declares no body for ${x.status}`);
  } else {
    const result = contract.validator.validateResponse(x.responseBody, operation, x.status);
    for (const e of result.errors ?? []) problems.push(`${where} (${operation.operationId}): ${e.instancePath || '/'} ${e.message ?? ''}${paramsNote(e.params)}`);
  }
  const headers = (declared.headers ?? {}) as Json;
  if ('X-Collection-Range' in headers) problems.push(...checkCollectionRange(where, lowerKeys(x.responseHeaders ?? {})['x-collection-range'], x.responseBody));
  return problems;
}

/** Request and (when there is one) answer of a KisiClient exchange. */
export function kisiExchangeProblems(x: KisiExchange): string[] {
  const req = { method: x.method, path: x.path, query: x.query, headers: x.requestHeaders, body: x.requestBody };
  const problems = validateKisiRequest(req);
  if (x.status !== undefined) problems.push(...validateKisiResponse({ ...req, status: x.status, responseHeaders: x.responseHeaders, responseBody: x.responseBody }));
  return problems;
}

/** The sandbox's answer (only): tests also send the sandbox requests Kisi would refuse, on purpose. */
export function sandboxExchangeProblems(x: SandboxExchange): string[] {
  return validateKisiResponse({ method: x.method, path: x.path, query: x.query, status: x.status, responseHeaders: x.responseHeaders, responseBody: x.responseBody });
}

/** For hooks: throws with every problem listed. */
export function assertConforms(problems: string[]): void {
  if (problems.length > 0) throw new Error(`Kisi contract violated:\n  ${problems.join('\n  ')}`);
}

// ---- in-memory adjustments ------------------------------------------------------------------

/**
 * Kisi (Rails strong parameters) silently drops body fields it does not know, so a misspelt field
 * would "work" and do nothing. The check is stricter than Kisi on purpose: an object schema that
 * lists its properties accepts only those. Free-form objects (`metadata`) stay open.
 */
function closeRequestBodies(paths: Json): void {
  for (const item of Object.values(paths) as Json[]) {
    for (const op of Object.values(item) as Json[]) {
      const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
      for (const media of Object.values(content)) if (media.schema) close(media.schema as Json);
    }
  }
}

function close(schema: Json): void {
  if (schema.properties && typeof schema.properties === 'object' && schema.additionalProperties === undefined) schema.additionalProperties = false;
  for (const sub of Object.values((schema.properties ?? {}) as Record<string, Json>)) if (sub && typeof sub === 'object') close(sub);
  for (const key of ['oneOf', 'anyOf']) for (const sub of (schema[key] ?? []) as Json[]) close(sub);
  if (schema.items && typeof schema.items === 'object') close(schema.items as Json);
}

/**
 * The split's PATCH /role_assignments/{id} body is three `oneOf` branches that differ only in the
 * type of `notify`, and the Group branch carries `valid_until`'s description and type under
 * `notify`. Every body matches all three branches (or none), so `oneOf` can never pass: the schema
 * as published rejects every request. Kisi's docs PATCH `{role_assignment: {valid_from,
 * valid_until}}` (204). Replaced by one object naming the fields Kisi documents for it.
 */
export const PATCH_ROLE_ASSIGNMENT_BODY = {
  type: 'object',
  required: ['role_assignment'],
  additionalProperties: false,
  properties: {
    role_assignment: {
      type: 'object',
      additionalProperties: false,
      properties: {
        role_id: { type: 'string' },
        notify: { type: 'boolean' },
        valid_from: { type: ['string', 'null'], format: 'date-time' },
        valid_until: { type: ['string', 'null'], format: 'date-time' },
      },
    },
  },
};

function applyErrata(paths: Json): void {
  const patch = ((paths['/role_assignments/{id}'] as Json | undefined)?.patch as Json | undefined)?.requestBody as Json | undefined;
  const media = (patch?.content as Record<string, Json> | undefined)?.['application/json'];
  if (!media) throw new Error('kisi contract: PATCH /role_assignments/{id} body not found; review the erratum');
  media.schema = structuredClone(PATCH_ROLE_ASSIGNMENT_BODY);
  declareUpdateUser422(paths);
}

/**
 * The split's PATCH /users/{id} declares 204/401/403/404 but no 422, although its body carries
 * rules Kisi validates (metadata: basic values only, keys up to 50 characters, values up to 500,
 * at most 50 keys) and Kisi answers every validation failure with 422 `{errors}`. The sandbox
 * refuses an `email` in that body (a user's email cannot be changed) and bad metadata with it.
 * Declared here with POST /users' published 422 answer, so that answer is checked like any other.
 */
function declareUpdateUser422(paths: Json): void {
  const users = paths['/users'] as Json | undefined;
  const created422 = ((users?.post as Json | undefined)?.responses as Json | undefined)?.['422'];
  const updateResponses = ((paths['/users/{id}'] as Json | undefined)?.patch as Json | undefined)?.responses as Json | undefined;
  if (!created422 || !updateResponses) throw new Error('kisi contract: POST /users 422 or PATCH /users/{id} not found; review the erratum');
  if ('422' in updateResponses) throw new Error('kisi contract: PATCH /users/{id} now declares 422 itself; drop the erratum');
  updateResponses['422'] = structuredClone(created422);
}

/** `a-b/total` with b-a+1 items, or `*\/total` on an empty page (Kisi's docs: `*\/0` when empty). */
function checkCollectionRange(where: string, value: string | undefined, body: unknown): string[] {
  if (value === undefined) return [`${where}: X-Collection-Range missing`];
  const count = Array.isArray(body) ? body.length : -1;
  const star = /^\*\/(\d+)$/.exec(value);
  if (star) return count === 0 ? [] : [`${where}: X-Collection-Range ${value} on a non-empty page`];
  const m = /^(\d+)-(\d+)\/(\d+)$/.exec(value);
  if (!m) return [`${where}: X-Collection-Range "${value}" does not match a-b/total`];
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const problems: string[] = [];
  if (end - start + 1 !== count) problems.push(`${where}: X-Collection-Range ${value} but ${count} items`);
  if (end >= total) problems.push(`${where}: X-Collection-Range ${value} ends past the total`);
  return problems;
}

// ---- helpers ---------------------------------------------------------------------------------

/** Inlines local `$ref`s (`#/components/...`); the Kisi files have no remote refs and no cycles. */
function dereference(node: unknown, root: Json, depth = 0): unknown {
  if (depth > 64) throw new Error('kisi contract: $ref nesting too deep (cycle?)');
  if (Array.isArray(node)) return node.map((n) => dereference(n, root, depth));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Json;
  if (typeof obj.$ref === 'string') {
    const ref = obj.$ref;
    if (!ref.startsWith('#/')) throw new Error(`kisi contract: unsupported $ref ${ref}`);
    let target: unknown = root;
    for (const part of ref.slice(2).split('/')) target = (target as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (target === undefined) throw new Error(`kisi contract: unresolved $ref ${ref}`);
    return dereference(target, root, depth + 1);
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) out[k] = dereference(v, root, depth);
  return out;
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

function paramsNote(params: unknown): string {
  if (!params || typeof params !== 'object') return '';
  const p = params as Json;
  if (typeof p.additionalProperty === 'string') return ` (${p.additionalProperty})`;
  if (typeof p.missingProperty === 'string') return ` (${p.missingProperty})`;
  if (Array.isArray(p.allowedValues)) return ` (${p.allowedValues.join(', ')})`;
  return '';
}
