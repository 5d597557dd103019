// What the worker bundles: every workflow type the product runs.
export { bookingGrant, passGrant, contractGrant } from './grant';
export { membershipWorkflow } from './membership';
export { customerSyncWorkflow } from './customer-sync';
export { checkinWorkflow } from './checkin';
export { reconcileWorkflow } from './reconcile';
export { activityLeaseWorkflow } from './activity-lease';
export { passWatchWorkflow } from './pass-watch';
export { readInventoryWorkflow } from './inventory';
