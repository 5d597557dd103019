/**
 * The console's static files, held in the build itself (no file to copy beside dist/): the style
 * sheet and the pages' scripts. Each is served under a name carrying its content hash, so a
 * browser may keep it for a year and never runs a stale one.
 */
import { createHash } from 'node:crypto';
import { CONSOLE_CSS } from './assets/style';
import { SETUP_JS } from './assets/setup-script';

interface Asset {
  type: 'text/css' | 'text/javascript';
  body: string;
}

/** Every asset by name. A page's script is added here and named in its sendPage `scripts`. */
const ASSETS: Record<string, Asset> = {
  'console.css': { type: 'text/css', body: CONSOLE_CSS },
  'setup.js': { type: 'text/javascript', body: SETUP_JS },
};

const hashed = new Map<string, { url: string; asset: Asset }>();
for (const [name, asset] of Object.entries(ASSETS)) {
  const hash = createHash('sha256').update(asset.body).digest('hex').slice(0, 12);
  const dot = name.lastIndexOf('.');
  hashed.set(name, { url: `/console/assets/${name.slice(0, dot)}.${hash}${name.slice(dot)}`, asset });
}
const byUrl = new Map([...hashed.values()].map((entry) => [entry.url, entry.asset]));

export function assetUrl(name: string): string {
  const entry = hashed.get(name);
  if (!entry) throw new Error(`no console asset ${name}`);
  return entry.url;
}

/** The asset at a request path (`/console/assets/...`), if there is one. */
export function assetAt(path: string): Asset | undefined {
  return byUrl.get(path);
}
