/**
 * Plain-text rendering for the operator commands: aligned tables and labelled blocks that read
 * well in a terminal and paste well into a ticket. `--json` bypasses all of this.
 */
import type { CancelOutcome, GrantList, GrantView, RetryOutcome } from './grant-commands';

/** Columns padded to their widest cell; the last column is not padded (no trailing blanks). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `2026-11-28 09:45Z`: minutes are what an operator compares; the JSON keeps full instants. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return `${iso.slice(0, 16).replace('T', ' ')}Z`;
}

export function formatGrantList(list: GrantList): string {
  if (list.grants.length === 0) return `no grants match ${list.query}`;
  const body = table(
    ['WORKFLOW ID', 'STATE', 'CUSTOMER', 'EMAIL', 'KISI GROUPS', 'ACCESS FROM', 'ACCESS UNTIL', 'WORKFLOW'],
    list.grants.map((g) => [
      g.workflowId,
      g.state ?? '-',
      g.customerId ?? '-',
      g.customerEmail ?? '-',
      g.groups.join(',') || '-',
      shortTime(g.accessStartsAt),
      g.accessStartsAt && !g.accessEndsAt ? 'open-ended' : shortTime(g.accessEndsAt),
      g.executionStatus.toLowerCase(),
    ]),
  );
  const more = list.truncated ? `\n(more match: raise --limit, or narrow with --customer / --state / --kind)` : '';
  return `${body}\n${list.grants.length} grant${list.grants.length === 1 ? '' : 's'}${more}`;
}

export function formatGrantView(view: GrantView): string {
  const s = view.status;
  const a = view.attributes;
  const window = s?.window ? `${s.window.from ?? 'now'} → ${s.window.until ?? 'open-ended'}` : a.accessStartsAt ? `${a.accessStartsAt} → ${a.accessEndsAt ?? 'open-ended'}` : 'none';
  const groups = s
    ? s.groups.map((g) => `${g} (${s.groupStates[String(g)] ?? 'not requested'})`).join(', ') || 'none mapped'
    : a.groups.join(', ') || 'none mapped';
  const rows: Array<[string, string]> = [
    ['Workflow', `${view.workflowId} (${view.type}, ${view.executionStatus.toLowerCase()}, ${view.historyLength} events)`],
    ['Summary', view.summary ?? '-'],
    ['State', s ? `${s.state}${s.lifecycle !== 'active' ? ` (${s.lifecycle}${s.endedReason ? `: ${s.endedReason}` : ''})` : ''}` : `${a.state ?? '-'} (search attribute)`],
    ['Customer', `${s?.customerId ?? a.customerId ?? '-'}${(s?.customerEmail ?? a.customerEmail) ? ` <${s?.customerEmail ?? a.customerEmail}>` : ''}`],
    ['Access', window],
    ['Kisi groups', groups],
    ['Kisi user', s?.kisiUserId ? String(s.kisiUserId) : '-'],
    ['Granted at', s?.grantedAt ?? '-'],
    ['Revoked at', s?.revokedAt ?? '-'],
    ['Started', view.startTime],
    ...(view.closeTime ? ([['Closed', view.closeTime]] as Array<[string, string]>) : []),
  ];
  if (s?.lastError) rows.push(['Error', s.lastError]);
  if (view.statusError) rows.push(['Note', view.statusError]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = [rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')];
  if (s?.state === 'needs-attention') out.push(`\nFix the cause, then: npm run grants -- retry ${view.workflowId}`);

  out.push('', 'Memberships (the only writers of Kisi role assignments):');
  if (view.memberships.length === 0) out.push('  none');
  else
    out.push(
      indent(
        table(
          ['WORKFLOW ID', 'STATUS', 'LEASES', 'KISI ASSIGNMENT'],
          view.memberships.map((m) => [
            m.workflowId,
            m.error ? `error: ${m.error}` : m.executionStatus === null ? 'not found' : m.executionStatus.toLowerCase() + (m.status?.needsAttention ? ' NEEDS ATTENTION' : ''),
            m.status ? m.status.leases.join(',') || 'none' : '-',
            m.status?.assignment
              ? `${m.status.assignment.id}${m.status.assignment.ours ? '' : ' (not ours, left as it is)'}: ${shortTime(m.status.assignment.from)} → ${m.status.assignment.until ? shortTime(m.status.assignment.until) : 'open-ended'}`
              : '-',
          ]),
        ),
      ),
    );

  out.push('', 'Kisi now:');
  const k = view.kisi;
  if (!k.available) out.push(`  (not shown: ${k.reason})`);
  else if (!k.user) out.push(`  no Kisi user with email ${k.email}`);
  else {
    out.push(`  user ${k.user.id} ${k.user.name ?? ''} <${k.email}>`.replace(/ +</, ' <'));
    if (k.assignments.length === 0) out.push('  no group role assignments');
    else
      out.push(
        indent(
          table(
            ['GROUP', 'ROLE', 'VALID FROM', 'VALID UNTIL', 'NOW', 'THIS GRANT'],
            k.assignments.map((x) => [
              String(x.groupId),
              x.role,
              x.validFrom ?? 'open',
              x.validUntil ?? 'open-ended',
              x.activeNow ? 'active' : 'inactive',
              x.grantGroup ? 'yes' : '-',
            ]),
          ),
        ),
      );
  }
  return out.join('\n');
}

export function formatCancel(outcome: CancelOutcome): string {
  const lines = [`cancel requested for ${outcome.workflowId}: its cleanup gives the Kisi access back (the memberships remove the role assignments)`];
  if (!outcome.settled) {
    lines.push(`still giving access back after the wait: the cleanup waits for Kisi to confirm; follow it with npm run grants -- show ${outcome.workflowId}`);
    return lines.join('\n');
  }
  lines.push(
    outcome.executionStatus === 'RUNNING'
      ? `${outcome.workflowId} cancelled: it grants nothing until its record changes in Nexudus (npm run grants -- retry ${outcome.workflowId} lifts it)`
      : `${outcome.workflowId} closed (${outcome.executionStatus.toLowerCase()})`,
  );
  if (outcome.groupStates) {
    for (const [group, state] of Object.entries(outcome.groupStates)) {
      lines.push(`  Kisi group ${group}: ${state === 'released' ? 'access removed' : `${state}${outcome.lastError ? ` (${outcome.lastError})` : ''}: the membership workflow keeps retrying the removal`}`);
    }
  }
  return lines.join('\n');
}

export function formatRetry(outcome: RetryOutcome): string {
  const before = outcome.stateBefore ?? 'unknown (no answer to the status query)';
  const note = outcome.stateBefore && outcome.stateBefore !== 'needs-attention' ? ' (not needs-attention: the retry re-reads Nexudus and the access map, which is harmless)' : '';
  return `retry sent to ${outcome.workflowId}; state was ${before}${note}${outcome.lastError ? `\nlast error: ${outcome.lastError}` : ''}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
