/**
 * docker-compose.yml read the way compose reads it (YAML merge keys, `${VAR}`, `${VAR:-default}`,
 * `${VAR:?error}`), for the two places that need the stack's own settings without a Docker
 * engine: test/compose/compose.test.ts checks them, and npm run test:production (dev/production/)
 * runs the stack's Temporal set-up scripts and server with them, so both stay one source.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export interface ComposeService {
  image?: string;
  build?: { context: string; target: string };
  container_name?: string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  entrypoint?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas: string | number };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

export const PROJECT_ROOT = path.join(__dirname, '..', '..');
export const COMPOSE_FILE = path.join(PROJECT_ROOT, 'docker-compose.yml');

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}. Unset `:?` variables throw, as compose does. */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    if (v !== undefined && v !== '') return v;
    if (op === '-') return arg ?? '';
    if (op === '?') throw new Error(`${name}: ${arg}`);
    return '';
  });
}

export class Compose {
  readonly file: ComposeFile;

  /**
   * `vars` stands in for deploy/.env (the `--env-file` of `docker compose`): the values every
   * `${VAR}` in the file is interpolated with.
   */
  constructor(
    readonly text: string,
    readonly vars: Record<string, string | undefined>,
  ) {
    this.file = YAML.parse(text, { merge: true }) as ComposeFile;
  }

  static load(vars: Record<string, string | undefined>, file = COMPOSE_FILE): Compose {
    return new Compose(fs.readFileSync(file, 'utf8'), vars);
  }

  /** Variables the file insists on (`${VAR:?...}`). */
  get requiredVars(): string[] {
    return [...new Set([...this.text.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!))];
  }

  service(name: string): ComposeService {
    const service = this.file.services[name];
    if (!service) throw new Error(`docker-compose.yml has no service ${name}`);
    return service;
  }

  /** A service's environment, interpolated. */
  env(name: string): Record<string, string> {
    return Object.fromEntries(Object.entries(this.service(name).environment ?? {}).map(([k, v]) => [k, interpolate(String(v), this.vars)]));
  }

  /** The image of a service and its tag (`temporalio/server:1.32.2` -> `1.32.2`). */
  imageTag(name: string): string | undefined {
    return this.service(name).image?.split(':')[1];
  }

  /**
   * Where a container path is mounted from: the host side of a `host:container[:ro]` volume,
   * relative to the compose file as compose resolves it (named volumes come back as their name).
   */
  mountSource(name: string, containerPath: string): string | undefined {
    for (const volume of this.service(name).volumes ?? []) {
      const [source, target] = interpolate(volume, this.vars).split(':');
      if (target === containerPath) return source;
      if (target && containerPath.startsWith(`${target}/`)) return path.join(source!, containerPath.slice(target.length + 1));
    }
    return undefined;
  }

  /** mountSource as an absolute host path (bind mounts only: a named volume has no `/` in its name). */
  hostPath(name: string, containerPath: string): string | undefined {
    const source = this.mountSource(name, containerPath);
    if (source === undefined || !source.includes('/')) return undefined;
    return path.resolve(path.dirname(COMPOSE_FILE), source);
  }

  /**
   * A one-shot service's `entrypoint: [/bin/sh, <script>]` as the script's path on the host (the
   * script is mounted into the container from the checkout).
   */
  entrypointScript(name: string): string {
    const [shell, script] = this.service(name).entrypoint ?? [];
    if (shell !== '/bin/sh' || !script) throw new Error(`${name}: expected entrypoint ["/bin/sh", <script>]`);
    const host = this.hostPath(name, script);
    if (!host) throw new Error(`${name}: ${script} is not mounted from the checkout`);
    return host;
  }
}
