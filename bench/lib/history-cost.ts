/**
 * What a workflow's life costs, read from its real history: Temporal Cloud bills "actions"
 * (workflow starts, signals, timers, activity attempts, search-attribute upserts, ...). Used by the
 * cost test and the cost benchmark.
 */
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

export interface HistoryCost {
  /** Workflow runs started (signal-with-start counts once, together with its signal). */
  starts: number;
  /** Signals received, excluding the one delivered with signal-with-start. */
  signals: number;
  timers: number;
  /** Activity attempts (retries included). */
  activityAttempts: number;
  /** The definition: starts + signals + timers + activity attempts. */
  billable: number;
  /** Search-attribute upserts: Temporal Cloud bills these too. */
  upserts: number;
  /** Continue-as-new: a new run (billed as a start on Cloud). */
  continuedAsNew: number;
  events: number;
}

export function historyCost(events: HistoryEvent[]): HistoryCost {
  let starts = 0;
  let signals = 0;
  let timers = 0;
  let activityAttempts = 0;
  let upserts = 0;
  let continuedAsNew = 0;
  let signalWithStartPending = false;
  let sawFirstTask = false;
  for (const e of events) {
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        starts++;
        // A signal before the first workflow task of a run came with the start request.
        signalWithStartPending = true;
        sawFirstTask = false;
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        sawFirstTask = true;
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        if (signalWithStartPending && !sawFirstTask) signalWithStartPending = false;
        else signals++;
        break;
      case T.EVENT_TYPE_TIMER_STARTED:
        timers++;
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        activityAttempts += Math.max(1, e.activityTaskStartedEventAttributes?.attempt ?? 1);
        break;
      case T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        upserts++;
        break;
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        continuedAsNew++;
        break;
    }
  }
  return { starts, signals, timers, activityAttempts, billable: starts + signals + timers + activityAttempts, upserts, continuedAsNew, events: events.length };
}

export function addCosts(a: HistoryCost, b: HistoryCost): HistoryCost {
  return {
    starts: a.starts + b.starts,
    signals: a.signals + b.signals,
    timers: a.timers + b.timers,
    activityAttempts: a.activityAttempts + b.activityAttempts,
    billable: a.billable + b.billable,
    upserts: a.upserts + b.upserts,
    continuedAsNew: a.continuedAsNew + b.continuedAsNew,
    events: a.events + b.events,
  };
}

export const ZERO_COST: HistoryCost = { starts: 0, signals: 0, timers: 0, activityAttempts: 0, billable: 0, upserts: 0, continuedAsNew: 0, events: 0 };
