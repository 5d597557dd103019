/** LEGACY messages, frozen: see src/contract/legacy.ts (where they are defined) and src/contract/grant.ts (shared). */
export { grantStatusQuery, retrySignal, sourceChangedSignal, type GrantResult, type GrantState, type GrantStatus, type GroupLeaseState } from '../../src/contract/grant';
export * from '../../src/contract/legacy';
