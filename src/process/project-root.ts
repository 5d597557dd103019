import fs from 'node:fs';
import path from 'node:path';

export function projectRoot(): string {
  // src/process -> project root (also correct from dist/src/process: search upwards for package.json)
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}
