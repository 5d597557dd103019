/**
 * A local stand-in for the PyPI Simple JSON API (PEP 691) serving tiny fake wheels, so the
 * resolver's download/verify/extract/lock path runs in unit tests without the network.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { type AddressInfo } from 'node:net';
import { deflateRawSync } from 'node:zlib';

/**
 * Builds a zip (as wheels are) with the given members; `deflate` picks the compression per member,
 * `declaredSize` makes the headers claim another uncompressed size (a corrupt archive).
 */
export function buildZip(members: { name: string; content: Buffer; deflate?: boolean; declaredSize?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    const data = member.deflate ? deflateRawSync(member.content) : member.content;
    const method = member.deflate ? 8 : 0;
    const crc = crc32(member.content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(member.declaredSize ?? member.content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(member.declaredSize ?? member.content.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const centralDir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDir, end]);
}

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export interface FakePypi {
  url: string;
  /** Wheel downloads served so far, by package. */
  downloads: Map<string, number>;
  close(): Promise<void>;
}

export interface FakePackage {
  name: string;
  version: string;
  member: string;
  content: Buffer;
  /** Serve a wrong sha256 in the index. */
  badHash?: boolean;
}

/** Serves `packages` on 127.0.0.1; wheel responses are delayed by `delayMs` so concurrent resolvers overlap. */
export async function startFakePypi(packages: FakePackage[], delayMs = 0): Promise<FakePypi> {
  const downloads = new Map<string, number>();
  const platform = process.platform === 'darwin' ? 'macosx_11_0_arm64.macosx_11_0_x86_64' : 'manylinux2014_x86_64.manylinux2014_aarch64';
  const wheels = new Map<string, { filename: string; bytes: Buffer; pkg: FakePackage }>();
  for (const pkg of packages) {
    const dist = pkg.name.replace(/-/g, '_');
    const filename = `${dist}-${pkg.version}-py3-none-${platform}.whl`;
    const bytes = buildZip([
      { name: `${dist}-${pkg.version}.dist-info/METADATA`, content: Buffer.from(`Name: ${pkg.name}\n`) },
      { name: `${dist}-${pkg.version}.data/scripts/${pkg.member}`, content: pkg.content, deflate: true },
    ]);
    wheels.set(pkg.name, { filename, bytes, pkg });
  }
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const index = /^\/simple\/([^/]+)\/$/.exec(url);
    if (index) {
      const wheel = wheels.get(index[1]!);
      if (!wheel) return void res.writeHead(404).end();
      const sha256 = wheel.pkg.badHash ? '0'.repeat(64) : createHash('sha256').update(wheel.bytes).digest('hex');
      res.writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' });
      return void res.end(JSON.stringify({ name: index[1], files: [{ filename: wheel.filename, url: `/files/${wheel.filename}`, hashes: { sha256 } }] }));
    }
    const file = /^\/files\/(.+)$/.exec(url);
    const wheel = file ? [...wheels.values()].find((w) => w.filename === file[1]) : undefined;
    if (!wheel) return void res.writeHead(404).end();
    downloads.set(wheel.pkg.name, (downloads.get(wheel.pkg.name) ?? 0) + 1);
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(wheel.bytes), delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/simple`,
    downloads,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A stand-in CLI: answers --version like the real one. */
export const FAKE_CLI = Buffer.from('#!/bin/sh\necho "temporal version 0.0.0-fake (Server 0, UI 0)"\n');
