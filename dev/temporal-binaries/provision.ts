/**
 * `npm run provision`: resolves (installing if needed) both Temporal programs into .tools/ before
 * the tests run, so parallel jest workers find them installed instead of racing to install.
 */
import { resolveExecutable, type ExecutableKind } from '.';

async function main(): Promise<void> {
  for (const kind of ['cli', 'test-server'] as ExecutableKind[]) {
    const started = Date.now();
    const resolved = await resolveExecutable(kind);
    const where = resolved.type === 'existing-path' ? resolved.path : `the SDK's download into ${resolved.downloadDir} (at first use)`;
    process.stdout.write(`[provision] ${kind}: ${where} (${resolved.source}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[provision] ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
