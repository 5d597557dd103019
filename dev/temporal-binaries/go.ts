/**
 * The Go module proxy (CLI only): compiles github.com/temporalio/cli at the newest tag
 * `go install` accepts. Minutes on 2 cores; needs the Go toolchain on PATH.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requireTool, runWithHeartbeat, toolsDir, verifyRuns, writeExecutableAtomically, writeSource, type Context, type Installer } from './shared';

/** The pinned module. Bumping it is a deliberate change reviewed with the replay tests. */
export const GO_PIN = {
  module: 'github.com/temporalio/cli/cmd/temporal',
  // Newest tag `go install mod@version` accepts: later tags carry `replace` directives in go.mod.
  version: 'v1.5.1',
} as const;

export const goCliInstaller: Installer = {
  id: 'go',
  name: `Go module proxy ${GO_PIN.module}@${GO_PIN.version}`,
  dirName: `temporal-cli-go-${GO_PIN.version}`,
  install: installCliWithGo,
};

async function installCliWithGo(ctx: Context, target: string): Promise<void> {
  await requireTool('go', ['version'], 'the Go toolchain (go) is not on PATH');
  fs.mkdirSync(toolsDir(ctx.root), { recursive: true });
  const gobin = fs.mkdtempSync(path.join(toolsDir(ctx.root), '.go-'));
  try {
    ctx.log(`go install ${GO_PIN.module}@${GO_PIN.version} (downloads modules and compiles; minutes on 2 cores)`);
    // CGO off: the CLI's sqlite is pure Go (modernc), so no C toolchain is needed and the binary is static.
    // Releases stamp the version at link time; without it the CLI calls itself 0.0.0-DEV.
    const ldflags = `-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${GO_PIN.version.replace(/^v/, '')}`;
    await runWithHeartbeat('go', ['install', ldflags, `${GO_PIN.module}@${GO_PIN.version}`], { ...ctx.env, CGO_ENABLED: '0', GOBIN: gobin }, ctx.log, 30 * 60_000);
    writeExecutableAtomically(target, fs.readFileSync(path.join(gobin, 'temporal')));
    writeSource(target, { registry: 'go-proxy', module: GO_PIN.module, version: GO_PIN.version });
    await verifyRuns('cli', target);
  } finally {
    fs.rmSync(gobin, { recursive: true, force: true });
  }
}
