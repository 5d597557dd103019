// What the worker bundles: every workflow type the product runs.
export { bookingGrant, passGrant, contractGrant } from './grant';
export { membershipWorkflow } from './membership';
