/**
 * Maven Central (test server only): the Java time-skipping test server's jars behind a wrapper
 * that execs java. Needs java and mvn on PATH.
 */
import fs from 'node:fs';
import path from 'node:path';
import { requireTool, runWithHeartbeat, toolsDir, verifyRuns, writeExecutableAtomically, writeSource, type Context, type Installer } from './shared';

/** The pinned artifact. Bumping it is a deliberate change reviewed with the replay tests. */
export const MAVEN_PIN = {
  artifact: 'io.temporal:temporal-test-server',
  // Newest io.temporal:temporal-test-server Maven Central serves here (checked 2026-11), runs on Java 17.
  version: '1.38.0',
} as const;

export const mavenTestServerInstaller: Installer = {
  id: 'maven',
  name: `Maven Central ${MAVEN_PIN.artifact}:${MAVEN_PIN.version}`,
  dirName: `temporal-test-server-maven-${MAVEN_PIN.version}`,
  install: installTestServerWithMaven,
};

async function installTestServerWithMaven(ctx: Context, target: string): Promise<void> {
  const { version } = MAVEN_PIN;
  const [groupId, artifactId] = MAVEN_PIN.artifact.split(':') as [string, string];
  const dir = path.dirname(target);
  await requireTool('java', ['-version'], 'java is not on PATH (the Maven test server is a Java program)');
  await requireTool('mvn', ['-v'], 'Maven (mvn) is not on PATH');
  fs.mkdirSync(toolsDir(ctx.root), { recursive: true });
  const work = fs.mkdtempSync(path.join(toolsDir(ctx.root), '.mvn-'));
  try {
    fs.writeFileSync(
      path.join(work, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
<dependencies><dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency></dependencies>
</project>\n`,
    );
    ctx.log(`mvn dependency:copy-dependencies ${MAVEN_PIN.artifact}:${version}`);
    await runWithHeartbeat('mvn', ['-q', '-B', '-f', path.join(work, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${path.join(dir, 'lib')}`], ctx.env, ctx.log, 20 * 60_000);
    // The SDK stops the server with SIGKILL on its direct child, so the wrapper must exec java.
    // The jar path is found relative to the wrapper itself so the checkout can move.
    writeExecutableAtomically(
      target,
      Buffer.from(
        '#!/bin/sh\n' +
          '# Temporal time-skipping test server from Maven Central (dev/temporal-binaries/maven.ts). Usage: <port>\n' +
          'here=$(dirname "$(readlink -f "$0")")\n' +
          'exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" -XX:+UseSerialGC -cp "$here/lib/*" io.temporal.testserver.TestServer "$@"\n',
      ),
    );
    writeSource(target, { registry: 'maven-central', artifact: `${MAVEN_PIN.artifact}:${version}` });
    await verifyRuns('test-server', target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
