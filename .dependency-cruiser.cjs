/**
 * The product's layering, checked in `npm test` (`npm run deps`), not hoped for:
 *
 *   src/domain  <-  src/contract  <-  workflows/
 *                                 <-  src/clients, src/config  <-  activities/  <-  src/ingress, src/cli, ...
 *
 * - Workflow code runs in Temporal's sandbox and must be deterministic: it may import only
 *   @temporalio/workflow (and @temporalio/common's workflow-safe pieces), the contract, pure domain
 *   code and other workflow modules; activities only as types (proxyActivities<Activities>).
 * - The domain is pure and depends on nothing else of ours; the contract on the domain only.
 * - Nothing of the product imports tests, benchmarks or development tooling: dev/ (the local stack
 *   of npm start and npm run sandbox, the sandboxes, the Temporal installer), bench/ and test/ may
 *   import the product, never the other way round, so the production build (tsconfig.build.json:
 *   src, workflows, activities) holds none of them. Development tooling does not import tests.
 * - No circles between folders, type imports included.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'workflows-allow-list',
      comment: 'workflows/ may import only @temporalio/workflow, @temporalio/common, src/contract, src/domain and workflows/ (activities: types only)',
      severity: 'error',
      from: { path: '^workflows/' },
      to: {
        pathNot: ['^workflows/', '^src/contract/', '^src/domain/', '^node_modules/@temporalio/(workflow|common)/'],
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'workflows-type-imports-only-of-activities',
      comment: 'workflows/ may see activities/ as types only',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { pathNot: ['^workflows/', '^src/contract/', '^src/domain/', '^activities/', '^node_modules/@temporalio/(workflow|common)/'] },
    },
    {
      name: 'domain-is-pure',
      comment: 'src/domain depends on nothing but itself: no Node built-ins, no packages, no other layer',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/' },
    },
    {
      name: 'contract-on-domain-only',
      comment: 'src/contract depends only on src/domain and @temporalio/workflow',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { pathNot: ['^src/contract/', '^src/domain/', '^node_modules/@temporalio/workflow/'] },
    },
    {
      name: 'product-not-on-tooling',
      comment: 'the product (src/, activities/, workflows/) imports no tests, benchmarks or development tooling',
      severity: 'error',
      from: { path: '^(src|activities|workflows)/' },
      to: { path: '^(test|bench|dev)/' },
    },
    {
      name: 'tooling-not-on-tests',
      comment: 'development tooling (dev/) imports no tests: npm start, npm run sandbox and npm run provision run without test/',
      severity: 'error',
      from: { path: '^dev/' },
      to: { path: '^test/' },
    },
    {
      name: 'lower-layers-not-on-edges',
      comment: 'clients, config, activities and workflows never import the ingress, the CLIs or the process entry points (src/main/)',
      severity: 'error',
      from: { path: '^(src/clients|src/config|src/domain|src/contract|activities|workflows)/' },
      to: { path: '^src/(ingress|cli|main)/' },
    },
    {
      name: 'no-circular',
      comment: 'no import circle between modules, type imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-circular',
      comment: 'no import circle between folders, type imports included',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // A git worktree's node_modules may be a symlink to a shared one: keep the paths node_modules/...
    preserveSymlinks: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.tools)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    combinedDependencies: false,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
