/**
 * Arguments of `npm run grants -- <command>`, validated with zod so a typo is a usage error
 * (exit 2) before anything reaches Temporal.
 */
import { z } from 'zod';
import { GRANT_STATES, LISTABLE_KINDS, isGrantWorkflowId } from '../ops/grant-commands';
import { UsageError, parseWith } from './ops-cli';

export const GRANTS_USAGE = `usage: npm run grants -- <command> [options]

  list [--customer ID] [--email EMAIL] [--state S] [--kind K] [--limit N] [--all]
        this deployment's grants (task queue TEMPORAL_TASK_QUEUE) from Temporal
        visibility; running ones unless --all
        (--email matches as the grants store it: hashed with TEMPORAL_PAYLOAD_KEY set)
        S: ${GRANT_STATES.join(' | ')}    K: ${LISTABLE_KINDS.join(' | ')}
  show <workflowId>            the grant's status, its memberships and what Kisi holds for the customer
  cancel <workflowId> [--wait SECONDS]
        cancel = revoke: the grant's cleanup removes the Kisi access (waits up to 60 s for it to close)
  retry <workflowId>           send the retry signal (after needs-attention: fix the cause first)
  sync-customer <customerId>   re-read one Nexudus customer and bring all their grants in step

  --json   machine-readable output
  workflowId: booking-<id> | pass-<id> | contract-<id>`;

const workflowId = z
  .string({ message: 'expected a workflow id such as booking-123' })
  .refine(isGrantWorkflowId, { message: 'expected a grant workflow id: booking-<id>, pass-<id> or contract-<id>' });
const numericId = (what: string) =>
  z
    .string({ message: `expected ${what}` })
    .regex(/^\d+$/, { message: `expected ${what} (digits only)` })
    .transform(Number);

const schema = z.discriminatedUnion('command', [
  z.strictObject({
    command: z.literal('list'),
    json: z.boolean(),
    customerId: numericId('a Nexudus customer id').optional(),
    email: z.email({ message: 'expected an email address' }).optional(),
    state: z.enum(GRANT_STATES, { message: `expected one of ${GRANT_STATES.join(', ')}` }).optional(),
    kind: z.enum(LISTABLE_KINDS, { message: `expected one of ${LISTABLE_KINDS.join(', ')}` }).optional(),
    limit: z.coerce.number({ message: 'expected a number' }).int().min(1).max(10_000).default(50),
    includeClosed: z.boolean(),
  }),
  z.strictObject({ command: z.literal('show'), json: z.boolean(), workflowId }),
  z.strictObject({
    command: z.literal('cancel'),
    json: z.boolean(),
    workflowId,
    waitSeconds: z.coerce.number({ message: 'expected seconds' }).int().min(0).max(3600).default(60),
  }),
  z.strictObject({ command: z.literal('retry'), json: z.boolean(), workflowId }),
  z.strictObject({ command: z.literal('sync-customer'), json: z.boolean(), customerId: numericId('a Nexudus customer id') }),
  z.strictObject({ command: z.literal('help') }),
]);

export type GrantsCommand = z.output<typeof schema>;

const OPTIONS = {
  json: { type: 'boolean' },
  customer: { type: 'string' },
  email: { type: 'string' },
  state: { type: 'string' },
  kind: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  wait: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Which options each command takes (anything else is refused rather than ignored). */
const ALLOWED: Record<string, string[]> = {
  list: ['json', 'customer', 'email', 'state', 'kind', 'limit', 'all'],
  show: ['json'],
  cancel: ['json', 'wait'],
  retry: ['json'],
  'sync-customer': ['json'],
};

export function parseGrantsArgs(argv: string[]): GrantsCommand {
  const shape = ({ values, positionals }: { values: Record<string, unknown>; positionals: string[] }) => {
    const [command, target, ...extra] = positionals;
    if (values.help || command === undefined || command === 'help') return { command: 'help' };
    const allowed = ALLOWED[command];
    if (!allowed) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    const refused = Object.keys(values).filter((k) => !allowed.includes(k));
    if (refused.length) throw new UsageError(`${command} does not take ${refused.map((r) => `--${r}`).join(', ')}`);
    const takesTarget = command !== 'list';
    if (extra.length || (!takesTarget && target !== undefined)) throw new UsageError(`unexpected argument ${JSON.stringify(takesTarget ? extra[0] : target)}`);
    if (takesTarget && target === undefined) throw new UsageError(`${command} needs ${command === 'sync-customer' ? 'a Nexudus customer id' : 'a workflow id'}`);
    const json = values.json === true;
    switch (command) {
      case 'list':
        return { command, json, customerId: values.customer, email: values.email, state: values.state, kind: values.kind, limit: values.limit, includeClosed: values.all === true };
      case 'cancel':
        return { command, json, workflowId: target, waitSeconds: values.wait };
      case 'sync-customer':
        return { command, json, customerId: target };
      default:
        return { command, json, workflowId: target };
    }
  };
  return parseWith(argv, OPTIONS, schema, shape, { positionals: true });
}
