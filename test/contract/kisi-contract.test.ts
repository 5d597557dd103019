/**
 * The contract check itself: it must accept what Kisi's description allows and catch what it does
 * not (a check that cannot fail proves nothing). Also: the vendored spec files are the published
 * ones, and every operation the client uses exists in them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KISI_CARDS_FRAGMENT,
  KISI_SPEC_DIR,
  assertConforms,
  kisiContract,
  kisiExchangeProblems,
  matchKisiOperation,
  validateKisiRequest,
  validateKisiResponse,
} from './kisi-contract';
import { startKisiHarness } from '../helpers/kisi';
import type { KisiExchange } from '../../src/clients/kisi';

const auth = { Authorization: 'KISI-LOGIN [redacted]', Accept: 'application/json', 'Content-Type': 'application/json' };
const req = (method: string, path: string, query: Record<string, string> = {}, body?: unknown) => ({ method, path, query, headers: auth, body });

describe('the vendored description', () => {
  it('has every split file named in SOURCE.md and our cards fragment', () => {
    const files = readdirSync(KISI_SPEC_DIR).filter((f) => f.endsWith('.yml'));
    expect(files).toHaveLength(11);
    expect(readFileSync(join(KISI_SPEC_DIR, 'SOURCE.md'), 'utf8')).toMatch(/api-evangelist\/kisi/);
    for (const f of files) expect(readFileSync(join(KISI_SPEC_DIR, f), 'utf8')).toMatch(/^openapi: 3\.2\.0\n/);
    expect(readFileSync(KISI_CARDS_FRAGMENT, 'utf8')).toMatch(/^# OUR OWN minimal OpenAPI fragment/);
  });

  // Only where the shared reference folder exists (developers' machines); CI clones have the copy only.
  const shared = '/work/shared/reference/kisi-openapi';
  (existsSync(shared) ? it : it.skip)('is byte-identical to the shared reference copy', () => {
    for (const f of readdirSync(shared)) expect(readFileSync(join(KISI_SPEC_DIR, f), 'utf8')).toBe(readFileSync(join(shared, f), 'utf8'));
  });

  it('describes every operation the client uses', () => {
    const used = [
      ['GET', '/users'], ['GET', '/users/1'], ['POST', '/users'], ['PATCH', '/users/1'],
      ['GET', '/places'], ['GET', '/groups'], ['GET', '/groups/1'], ['GET', '/locks'], ['GET', '/group_locks'],
      ['GET', '/role_assignments'], ['POST', '/role_assignments'], ['PATCH', '/role_assignments/1'], ['DELETE', '/role_assignments/1'],
      ['GET', '/cards'], ['POST', '/cards'], ['GET', '/card_assignments'], ['POST', '/card_assignments'], ['DELETE', '/card_assignments/1'],
      ['POST', '/integrations'],
    ];
    for (const [m, p] of used) expect(matchKisiOperation(m!, p!)?.operationId).toEqual(expect.any(String));
  });
});

describe('requests', () => {
  it('accepts what the client sends', () => {
    expect(validateKisiRequest(req('GET', '/role_assignments', { applies_to_type: 'Group', applies_to_id: '7', assignee_type: 'User', assignee_id: '3', limit: '250', offset: '0' }))).toEqual([]);
    expect(validateKisiRequest(req('POST', '/users', {}, { user: { email: 'a@example.com', name: 'A', send_emails: false, metadata: { any: 'thing' } } }))).toEqual([]);
    expect(validateKisiRequest(req('POST', '/role_assignments', {}, { role_assignment: { role_id: 'group_basic', applies_to_type: 'Group', applies_to_id: 7, assignee_type: 'User', assignee_id: 3, valid_from: '2030-01-01T00:00:00Z', valid_until: null, notify: false } }))).toEqual([]);
    expect(validateKisiRequest(req('PATCH', '/role_assignments/12', {}, { role_assignment: { valid_from: null, valid_until: '2030-01-01T00:00:00Z' } }))).toEqual([]);
    expect(validateKisiRequest(req('POST', '/cards', {}, { card: { token: 'abc', type: 'mifare_desfire' } }))).toEqual([]);
    // Deprecated filters are still part of the contract.
    expect(validateKisiRequest(req('GET', '/role_assignments', { user_id: '3', group_id: '7' }))).toEqual([]);
  });

  it('catches an unknown path or method', () => {
    expect(validateKisiRequest(req('GET', '/memberships'))).toEqual([expect.stringMatching(/no such operation/)]);
    expect(validateKisiRequest(req('PUT', '/users/1'))).toEqual([expect.stringMatching(/no such operation/)]);
    expect(validateKisiRequest(req('DELETE', '/cards'))).toEqual([expect.stringMatching(/no such operation/)]);
  });

  it('catches query parameters the operation does not declare or does not accept', () => {
    expect(validateKisiRequest(req('GET', '/users', { emial: 'a@example.com' })).join()).toMatch(/emial/);
    expect(validateKisiRequest(req('GET', '/users', { limit: '250' })).join()).toMatch(/limit.*100|<= 100/);
    expect(validateKisiRequest(req('GET', '/role_assignments', { offset: '20001' })).join()).toMatch(/offset/);
    expect(validateKisiRequest(req('GET', '/role_assignments', { applies_to_type: 'Lock' })).join()).toMatch(/applies_to_type/);
    expect(validateKisiRequest(req('GET', '/group_locks', {})).join()).toMatch(/group_id/);
    expect(validateKisiRequest(req('GET', '/locks', { place_id: 'main' })).join()).toMatch(/place_id/);
  });

  it('catches body fields the spec does not allow, wrong types and missing required fields', () => {
    expect(validateKisiRequest(req('POST', '/users', {}, { user: { email: 'a@example.com', nam: 'typo' } })).join()).toMatch(/nam/);
    expect(validateKisiRequest(req('POST', '/users', {}, { user: { name: 'no email' } })).join()).toMatch(/email/);
    expect(validateKisiRequest(req('PATCH', '/users/1', {}, { user: { email: 'x@example.com' } })).join()).toMatch(/email/);
    expect(validateKisiRequest(req('POST', '/role_assignments', {}, { role_assignment: { applies_to_type: 'Group', applies_to_id: 7, assignee_type: 'User', assignee_id: 3 } })).length).toBeGreaterThan(0);
    expect(validateKisiRequest(req('POST', '/role_assignments', {}, { role_assignment: { role_id: 'group_basic', applies_to_type: 'Group', applies_to_id: 7, assignee_type: 'User', assignee_id: 3, valid_from: 'tomorrow' } })).length).toBeGreaterThan(0);
    expect(validateKisiRequest(req('PATCH', '/role_assignments/12', {}, { role_assignment: { valid_until: null, expires: 'x' } })).join()).toMatch(/expires/);
    expect(validateKisiRequest(req('POST', '/cards', {}, { card: { token: 'abc', type: 'third_party_hf' } })).length).toBeGreaterThan(0);
    expect(validateKisiRequest(req('POST', '/card_assignments', {}, { card_assignment: { assignee_type: 'User', assignee_id: 1, card_id: 2, two_factor_pin: '12345' } })).join()).toMatch(/two_factor_pin/);
  });

  it('catches a request without Kisi authentication or JSON headers', () => {
    expect(validateKisiRequest({ method: 'GET', path: '/places', headers: { Accept: 'application/json' } }).join()).toMatch(/KISI-LOGIN/);
    expect(validateKisiRequest({ method: 'POST', path: '/cards', headers: { Authorization: 'KISI-LOGIN k', Accept: 'application/json' }, body: { card: { token: 'a', type: 'mifare_desfire' } } }).join()).toMatch(/Content-Type/);
  });

  it('the raw PATCH /role_assignments/{id} schema rejects every body: why the erratum exists', () => {
    const raw = kisiContract({ raw: true });
    const body = { role_assignment: { valid_from: null, valid_until: '2030-01-01T00:00:00Z' } };
    expect(validateKisiRequest(req('PATCH', '/role_assignments/12', {}, body), raw).join()).toMatch(/oneOf/);
    expect(validateKisiRequest(req('PATCH', '/role_assignments/12', {}, body))).toEqual([]);
  });
});

describe('responses', () => {
  const user = {
    id: 1, resource_type: 'User', name: 'A', email: 'a@example.com', created_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z',
    metadata: {}, image: null, otp_required_for_login: false, password_flow_enabled: false, access_enabled: true, last_accessed_at: null,
    scim_access_enabled: true, notes: null, organization_id: 1, confirmed: true, groups_count: 0,
  };

  it('accepts a conforming answer and catches a missing, extra or mistyped field', () => {
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 200, responseBody: user })).toEqual([]);
    const { notes: _n, ...missing } = user;
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 200, responseBody: missing }).join()).toMatch(/notes/);
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 200, responseBody: { ...user, nickname: 'x' } }).join()).toMatch(/nickname/);
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 200, responseBody: { ...user, id: '1' } }).join()).toMatch(/id/);
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 200, responseBody: { ...user, created_at: 'yesterday' } }).join()).toMatch(/created_at|date-time/);
  });

  it('catches an undeclared status, a body where none is declared, and a wrong error body', () => {
    expect(validateKisiResponse({ method: 'GET', path: '/users', status: 404, responseBody: { error: 'x', code: 'y' } }).join()).toMatch(/not declared/);
    expect(validateKisiResponse({ method: 'DELETE', path: '/role_assignments/1', status: 204, responseBody: { ok: true } }).join()).toMatch(/no body/);
    expect(validateKisiResponse({ method: 'GET', path: '/users/1', status: 404, responseBody: { message: 'gone' } }).length).toBeGreaterThan(0);
    expect(validateKisiResponse({ method: 'POST', path: '/users', status: 422, responseBody: { errors: { email: 'taken' } } }).length).toBeGreaterThan(0);
    // 429 and 5xx may come from any operation, with Kisi's error body.
    expect(validateKisiResponse({ method: 'GET', path: '/users', status: 429, responseBody: { error: 'slow down', code: 'x' } })).toEqual([]);
    expect(validateKisiResponse({ method: 'GET', path: '/users', status: 503, responseBody: { oops: 1 } }).length).toBeGreaterThan(0);
  });

  it('PATCH /users/{id} may answer 422 with the Errors body (erratum: the split declares none)', () => {
    const x = { method: 'PATCH', path: '/users/1', status: 422 };
    expect(validateKisiResponse({ ...x, responseBody: { errors: { email: ['cannot be changed'] } } })).toEqual([]);
    expect(validateKisiResponse({ ...x, responseBody: { errors: { email: 'cannot be changed' } } }).length).toBeGreaterThan(0);
    expect(validateKisiResponse({ ...x, responseBody: { error: 'x', code: 'y' } }).length).toBeGreaterThan(0);
    expect(validateKisiResponse({ ...x, responseBody: { errors: { email: ['cannot be changed'] } } }, kisiContract({ raw: true })).join()).toMatch(/not declared/);
    // Only there: other operations without a declared 422 still refuse it.
    expect(validateKisiResponse({ method: 'DELETE', path: '/card_assignments/1', status: 422, responseBody: { errors: {} } }).join()).toMatch(/not declared/);
  });

  it('checks the paging header against the page', () => {
    const check = (range: string | undefined, body: unknown[]) =>
      validateKisiResponse({ method: 'GET', path: '/users', status: 200, responseHeaders: range === undefined ? {} : { 'X-Collection-Range': range }, responseBody: body });
    expect(check('0-0/1', [user])).toEqual([]);
    expect(check('*/0', [])).toEqual([]);
    expect(check(undefined, [user]).join()).toMatch(/missing/);
    expect(check('0-1/2', [user]).join()).toMatch(/1 items/);
    expect(check('*/0', [user]).join()).toMatch(/non-empty/);
    expect(check('0-9', [user]).join()).toMatch(/does not match/);
  });
});

describe('wired into the client', () => {
  it('a request the spec forbids fails the exchange check (so the wiring can fail a test)', async () => {
    const h = await startKisiHarness({ rateLimit: false });
    try {
      const seen: KisiExchange[] = [];
      const kisi = h.client({ maxRps: 50, onExchange: (x) => seen.push(x) });
      await kisi.createUser({ email: 'zed@example.com', name: 'Zed', sendEmails: false });
      expect(h.problems()).toEqual([]);
      const sent = seen[0]!;
      // The same exchange with a field Kisi does not know, a filter it does not have, an undeclared path.
      const tampered: KisiExchange[] = [
        { ...sent, requestBody: { user: { ...(sent.requestBody as { user: object }).user, favourite_colour: 'green' } } },
        { ...sent, method: 'GET', path: '/users', query: { email_like: 'zed' }, requestBody: undefined, status: undefined },
        { ...sent, path: '/people' },
      ];
      for (const x of tampered) {
        const problems = kisiExchangeProblems(x);
        expect(problems.length).toBeGreaterThan(0);
        expect(() => assertConforms(problems)).toThrow(/Kisi contract violated/);
      }
      h.expectContractClean();
    } finally {
      await h.close();
    }
  });

  it('a sandbox answer that breaks the spec is collected as a violation', async () => {
    const h = await startKisiHarness({ rateLimit: false });
    try {
      // Corrupt a record behind the sandbox's back: its answers no longer conform.
      const group = h.sandbox.state.groups.get(101)!;
      (group as unknown as { name: unknown }).name = 42;
      await h.client({ maxRps: 50 }).getGroup(101);
      expect(h.problems().join()).toMatch(/\/name/);
      expect(() => h.expectContractClean()).toThrow(/Kisi contract violated/);
    } finally {
      await h.close();
    }
  });
});
