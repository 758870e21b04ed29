/**
 * What a new user sees from npm: `npm install`, `npm start` and `npm test` print no warning caused by this
 * project's configuration or its dependency tree, on the Node running this suite (CI runs it on each Node that
 * `engines` names). npm runs under this process's Node, as `npm` on a PATH that starts with it would.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean }>;
};

/** The environment of a user's shell: no npm_* variables inherited from the `npm test` running this file. */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
  return { ...env, PATH: [dirname(process.execPath), env.PATH].join(delimiter) };
}

function npm(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npm', args, { cwd, env: userEnv(), timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

const warnings = (stderr: string): string[] => stderr.split('\n').filter((line) => /^npm (warn|error)/i.test(line));

describe('npm on this project', () => {
  let dir: string;

  beforeAll(async () => {
    // The manifest and the lock file alone, as a fresh clone has them (no node_modules to reuse).
    dir = await mkdtemp(join(tmpdir(), 'resnet-serve-npm-'));
    for (const file of ['package.json', 'package-lock.json']) await copyFile(join(repo, file), join(dir, file));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test(`npm install warns about nothing on Node ${process.versions.node}: engines, config and install scripts`, async () => {
    // --dry-run resolves the whole tree from the lock file and prints the engine and install-script warnings a
    // real install prints, without fetching a tarball; a registry that refuses every connection proves it.
    const result = await npm(
      ['install', '--dry-run', '--no-audit', '--no-fund', '--registry', 'http://127.0.0.1:9/', '--fetch-retries', '0'],
      dir,
    );
    expect(warnings(result.stderr)).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/added \d+ packages/);
  });

  test('npm commands in the project print no config warning (npm start runs npm three times)', async () => {
    const result = await npm(['pkg', 'get', 'name'], repo);
    expect(warnings(result.stderr)).toEqual([]);
    expect(result.stdout.trim()).toBe('"resnet-serve"');
  });

  test('every dependency install script is an explicit choice, and ONNX Runtime’s (a CUDA download) is refused', () => {
    const withScripts = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    expect(Object.keys(manifest.allowScripts ?? {}).sort()).toEqual([...new Set(withScripts)].sort());
    expect(manifest.allowScripts?.['onnxruntime-node']).toBe(false);
  });

  test('inject() still sends cookies with the overridden cookie@1 (light-my-request calls its stringifySetCookie)', async () => {
    const app = Fastify();
    app.get('/', async (request) => request.headers.cookie ?? '');
    const res = await app.inject({ url: '/', cookies: { session: 'a b;c' } });
    expect(res.body).toBe('session=a%20b%3Bc');
    await app.close();
  });
});
