/**
 * The visibility query builders (src/temporal/visibility-queries.ts): every query the product
 * sends is scoped to the deployment's task queue, names workflow types from the contract, and
 * quotes every value with the one escaping function. The same queries on a real server, with two
 * deployments in one namespace: test/temporal/visibility-scope.test.ts.
 */
import * as queries from '../../src/temporal/visibility-queries';
import { GRANT_WORKFLOW_TYPE } from '../../src/contract/grant';
import { MEMBERSHIP_WORKFLOW_TYPE } from '../../src/contract/membership';
import { RECONCILE_WORKFLOW_TYPE } from '../../src/contract/reconcile';
import { CHECKIN_WORKFLOW_TYPE } from '../../src/contract/checkin';
import { ConfigError, parseEnv } from '../../src/config/env';

const { literal } = queries;

describe('literal', () => {
  test.each([
    ['access-grants', "'access-grants'"],
    ['', "''"],
    ["o'brien@example.com", "'o\\'brien@example.com'"],
    ['say "hi"', `'say "hi"'`],
    ['back\\slash', "'back\\\\slash'"],
    // A trailing backslash must not escape the closing quote.
    ['ends with \\', "'ends with \\\\'"],
    // An attempt to close the literal and add a clause stays inside it.
    ["x' OR TaskQueue != 'x", "'x\\' OR TaskQueue != \\'x'"],
    ["\\'", "'\\\\\\''"],
  ])('%j -> %s', (value, expected) => {
    expect(literal(value)).toBe(expected);
  });

  test('the quoted text decodes back to the value (backslash escapes, as the server reads them)', () => {
    for (const value of ["a'b", 'a\\b', "\\'\\", 'plain', "''", '\\\\']) {
      const quoted = literal(value);
      expect(quoted.startsWith("'") && quoted.endsWith("'")).toBe(true);
      const inner = quoted.slice(1, -1);
      // No unescaped quote inside: every ' is preceded by an odd run of backslashes.
      expect(inner.replace(/\\./g, '')).not.toContain("'");
      expect(inner.replace(/\\(.)/g, '$1')).toBe(value);
    }
  });
});

const TQ = "deploy-'a'\\b";
const SCOPE = `TaskQueue = ${literal(TQ)} AND `;

/** One call of every builder: a builder added to the module without a row here fails the last test. */
const EVERY_BUILDER: Record<string, (taskQueue: string) => string> = {
  runningGrantsQuery: (tq) => queries.runningGrantsQuery(tq, { kinds: ['booking', 'pass'], customerId: 7 }),
  runningMembershipsQuery: (tq) => queries.runningMembershipsQuery(tq, { groupId: 103 }),
  reconcileRunsQuery: (tq) => queries.reconcileRunsQuery(tq, { completed: true }),
  replayCandidatesQuery: (tq) => queries.replayCandidatesQuery(tq),
  grantListQuery: (tq) => queries.grantListQuery(tq, { includeClosed: false, state: 'granted', customerId: 7 }, ["o'brien@example.com"]),
  failedCheckinsQuery: (tq) => queries.failedCheckinsQuery(tq, { from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' }),
};

describe('every query is scoped to the task queue', () => {
  test.each(Object.entries(EVERY_BUILDER))('%s starts with the TaskQueue clause', (_name, build) => {
    const query = build(TQ);
    expect(query.startsWith(SCOPE)).toBe(true);
    // Once: no builder adds a second, contradicting task queue.
    expect(query.split('TaskQueue =')).toHaveLength(2);
  });

  test.each(Object.entries(EVERY_BUILDER))('%s refuses an empty task queue', (_name, build) => {
    expect(() => build('')).toThrow(/task queue/);
  });

  test('the table above covers every exported builder', () => {
    const exported = Object.entries(queries)
      .filter(([name, value]) => typeof value === 'function' && name.endsWith('Query'))
      .map(([name]) => name)
      .sort();
    expect(exported).toEqual(Object.keys(EVERY_BUILDER).sort());
  });
});

describe('the queries', () => {
  test('running grants: the contract\'s workflow type names, a customer as a quoted keyword', () => {
    expect(queries.runningGrantsQuery('tq')).toBe(
      `TaskQueue = 'tq' AND ExecutionStatus = 'Running' AND WorkflowType IN ('${GRANT_WORKFLOW_TYPE.booking}', '${GRANT_WORKFLOW_TYPE.pass}', '${GRANT_WORKFLOW_TYPE.contract}')`,
    );
    expect(queries.runningGrantsQuery('tq', { kinds: ['pass'], customerId: 42 })).toBe(
      `TaskQueue = 'tq' AND ExecutionStatus = 'Running' AND WorkflowType IN ('${GRANT_WORKFLOW_TYPE.pass}') AND NexudusCustomerId = '42'`,
    );
    expect(() => queries.runningGrantsQuery('tq', { kinds: [] })).toThrow(/at least one/);
  });

  test('memberships, reconcile runs, replay candidates, failed check-ins', () => {
    expect(queries.runningMembershipsQuery('tq', { groupId: 103 })).toBe(`TaskQueue = 'tq' AND ExecutionStatus = 'Running' AND WorkflowType = '${MEMBERSHIP_WORKFLOW_TYPE}' AND KisiGroupIds = '103'`);
    expect(queries.reconcileRunsQuery('tq')).toBe(`TaskQueue = 'tq' AND WorkflowType = '${RECONCILE_WORKFLOW_TYPE}'`);
    expect(queries.reconcileRunsQuery('tq', { completed: true })).toBe(`TaskQueue = 'tq' AND WorkflowType = '${RECONCILE_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`);
    expect(queries.replayCandidatesQuery('tq')).toBe(
      `TaskQueue = 'tq' AND ExecutionStatus = 'Running' AND WorkflowType IN ('bookingGrant', 'passGrant', 'contractGrant', '${MEMBERSHIP_WORKFLOW_TYPE}')`,
    );
    expect(queries.failedCheckinsQuery('tq', { from: '2026-11-01T00:00:00.000Z', to: '2026-11-08T00:00:00.000Z' })).toBe(
      `TaskQueue = 'tq' AND WorkflowType = '${CHECKIN_WORKFLOW_TYPE}' AND GrantState = 'needs-attention' AND StartTime >= '2026-11-01T00:00:00.000Z' AND StartTime < '2026-11-08T00:00:00.000Z'`,
    );
  });

  test('grant list: kinds listed by default, each filter a clause, emails quoted', () => {
    expect(queries.grantListQuery('tq', { includeClosed: false })).toBe(`TaskQueue = 'tq' AND GrantKind IN ('booking', 'pass', 'contract', 'customer') AND ExecutionStatus = 'Running'`);
    expect(queries.grantListQuery('tq', { includeClosed: true, kind: 'checkin', customerId: 9, state: 'needs-attention' }, ['a@b.example', "it's@b.example"])).toBe(
      `TaskQueue = 'tq' AND GrantKind = 'checkin' AND NexudusCustomerId = '9' AND CustomerEmail IN ('a@b.example', 'it\\'s@b.example') AND GrantState = 'needs-attention'`,
    );
  });

  test('grant list for Access now: several kinds and states, all of some groups, a window open at an instant or starting soon', () => {
    const at = '2026-11-01T10:00:00.000Z';
    expect(queries.grantListQuery('tq', { includeClosed: false, kinds: ['booking', 'pass', 'contract'], states: ['granted', 'needs-attention'], groupIds: [101, 104], window: { openAt: at } })).toBe(
      `TaskQueue = 'tq' AND GrantKind IN ('booking', 'pass', 'contract') AND GrantState IN ('granted', 'needs-attention') AND KisiGroupIds = '101' AND KisiGroupIds = '104'` +
        ` AND AccessStartsAt <= '${at}' AND (AccessEndsAt > '${at}' OR AccessEndsAt IS NULL) AND ExecutionStatus = 'Running'`,
    );
    expect(queries.grantListQuery('tq', { includeClosed: false, kinds: ['booking'], window: { startsWithin: { from: at, to: '2026-11-02T10:00:00.000Z' } } })).toBe(
      `TaskQueue = 'tq' AND GrantKind IN ('booking') AND AccessStartsAt > '${at}' AND AccessStartsAt <= '2026-11-02T10:00:00.000Z' AND ExecutionStatus = 'Running'`,
    );
  });
});

test('TEMPORAL_TASK_QUEUE: a single quote is fine (escaped), a double quote or backslash is refused (SQL visibility never matches it)', () => {
  expect(parseEnv({ TEMPORAL_TASK_QUEUE: "o'brien-grants" }).TEMPORAL_TASK_QUEUE).toBe("o'brien-grants");
  expect(parseEnv({}).TEMPORAL_TASK_QUEUE).toBe('access-grants');
  for (const bad of ['say "grants"', 'grants\\prod']) {
    expect(() => parseEnv({ TEMPORAL_TASK_QUEUE: bad })).toThrow(ConfigError);
    expect(() => parseEnv({ TEMPORAL_TASK_QUEUE: bad })).toThrow(/TEMPORAL_TASK_QUEUE: expected a name without " or \\/);
  }
});
