// The packed tarball, as a consumer gets it: the x64 prebuild made by the prepack step (scripts/prepack.cjs x64;
// the arm64 cross-build is left to .ci/run's full `npm pack`, which takes a minute more), `npm pack` of the built
// working tree, installed into a fresh folder with install scripts off (so no addon is built there: the consumer
// runs on the native prebuild if the tarball has one for its platform, else on WebAssembly), then loaded from ESM,
// from require(), from TypeScript (ESM and CommonJS) and from the `rnnkit` command.
// Needs a built tree (`npm run build:ts` and `build:wasm`, as CI and `npm test` do), cmake and a C++ compiler
// (the prebuild) and npm's cache or registry.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', '.bin', 'tsc');

// npm passes its configuration to scripts as npm_* variables (npm_config_local_prefix among them): a nested
// npm run under `npm test` would read them and act on this repository instead of the consumer's folder.
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
);
childEnv.RNNKIT_BACKEND = ''; // the consumer gets the automatic choice

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { cwd, env: { ...childEnv, ...env }, encoding: 'utf8', timeout: 240_000 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

// One tiny LSTM forward, the same in every consumer; it prints what the test checks as one JSON line.
const FORWARD = `
const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 });
const { output, hN } = lstm.forward(tensor(Float32Array.from({ length: 6 }, (_, i) => i / 6), [2, 1, 3]));
console.log(JSON.stringify({ shape: output.shape, hN: hN.shape,
  finite: Array.from(output.data).every(Number.isFinite), backend: backendReport().active }));
`;

// TypeScript consumers also show that the types are real, not `any`: a misspelt option must be an error.
const TS_CONSUMER = `import { LSTM, tensor, backendReport } from 'rnnkit';
${FORWARD}
const shape: readonly number[] = output.shape;
// Never called: only the type checker sees it.
// @ts-expect-error: the option is inputSize
const misspelt = () => new LSTM({ inputSiz: 3, hiddenSize: 4 });
export { shape, misspelt };
`;

interface Result { shape: number[]; hN: number[]; finite: boolean; backend: string | null }

// The platforms the x64-only prepack below gives a prebuild; elsewhere a consumer gets WebAssembly.
const PREBUILT = process.platform === 'linux' && process.arch === 'x64';
const CONSUMER_BACKEND = PREBUILT ? 'native' : 'wasm';

function expectForward(stdout: string, consumer: string): void {
  const line = stdout.trim().split('\n').pop() ?? '';
  const r = JSON.parse(line) as Result;
  expect(r.shape).toEqual([2, 1, 4]);
  expect(r.hN).toEqual([1, 1, 4]);
  expect(r.finite).toBe(true);
  expect(r.backend, consumer).toBe(CONSUMER_BACKEND);
}

/** A TypeScript consumer in its own folder: package.json `type`, compiler options, one source file. */
function tsConsumer(name: string, type: 'module' | 'commonjs', file: string, options: Record<string, unknown>): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', strict: true, outDir: 'out', rootDir: '.',
      // @types/node from this repository: the consumer folder installs only rnnkit.
      types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
      ...options,
    },
    files: [file],
  }));
  writeFileSync(join(dir, file), TS_CONSUMER);
  return dir;
}

let work = '';
let packed: { files: { path: string }[]; unpackedSize: number };

let installed = '';
// `npx rnnkit ...` in the consumer's folder, as its README tells a user (--no: never fetch it from the registry).
const npxRnnkit = (args: string[], env: NodeJS.ProcessEnv = {}) => run('npx', ['--no', 'rnnkit', ...args], work, env);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rnnkit-package-'));
  // The prepack step for this platform only (a cross-build of arm64 would double the time).
  // The CUDA addon is left out here (a minute of nvcc); .ci/run's full npm pack checks it is packed.
  if (PREBUILT) run(process.execPath, ['scripts/prepack.cjs', 'x64'], root, { RNNKIT_PREBUILD_CUDA: '0' });
  // --ignore-scripts: `prepack` would build every prebuild again and `prepare` would rebuild dist/; the test
  // packs the tree as built.
  const out = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
  const info = (JSON.parse(out) as (typeof packed & { filename: string })[])[0]!;
  packed = info;
  const tgz = join(work, info.filename);
  // The consumer's own package.json has no `type`: its .js files are CommonJS.
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tgz], work);
  installed = join(work, 'node_modules', 'rnnkit');
}, 400_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds what a consumer needs and nothing from the development tree', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/index.d.cts',
      'dist/models/fit-worker.js', 'dist/cli/main.js', 'dist/wasm/rnnkit.wasm', 'dist/wasm/rnnkit-relaxed-mt.wasm',
      'native/addon.cc', 'CMakeLists.txt', 'scripts/install.cjs', 'models/names.safetensors',
      ...(PREBUILT ? ['prebuilds/linux-x64/rnnkit.glibc.node'] : [])]) {
      expect(files, f).toContain(f);
    }
    // Only addons node-gyp-build can tell apart (prebuilds/<platform>-<arch>/rnnkit.glibc.node), and the CUDA addon
    // in a folder of its own where node-gyp-build does not look.
    expect(files.filter((f) => f.endsWith('.node') &&
      !/^prebuilds\/linux-(x64|arm64)\/rnnkit\.glibc\.node$|^prebuilds\/linux-x64\/cuda\/rnnkit_cuda\.node$/.test(f))).toEqual([]);
    const stray = files.filter((f) => /^(src|test|bench|tools|build|node_modules|\.ci)\/|^\.|\.tgz$|\.env|testhooks\.(wasm|node)$/.test(f));
    expect(stray).toEqual([]);
    expect(packed.unpackedSize).toBeLessThan(20 * 1024 * 1024);
  });

  it('gives bundlers the browser build as rnnkit/browser, with its types', () => {
    expect(packed.files.map((f) => f.path)).toEqual(expect.arrayContaining(['dist/browser/rnnkit.js', 'dist/browser/rnnkit.wasm', 'dist/browser.d.ts']));
    writeFileSync(join(work, 'resolve.mjs'), `console.log(import.meta.resolve('rnnkit/browser'));`);
    expect(run(process.execPath, ['resolve.mjs'], work).trim()).toBe(pathToFileURL(join(installed, 'dist', 'browser', 'rnnkit.js')).href);
  });

  it('loads with import() from an ES module', () => {
    writeFileSync(join(work, 'esm.mjs'), `import { LSTM, tensor, backendReport } from 'rnnkit';\n${FORWARD}`);
    expectForward(run(process.execPath, ['esm.mjs'], work), 'ESM');
  });

  it('loads with require() from a CommonJS file (Node >= 20.19)', () => {
    writeFileSync(join(work, 'cjs.cjs'), `const { LSTM, tensor, backendReport } = require('rnnkit');\n${FORWARD}`);
    expectForward(run(process.execPath, ['cjs.cjs'], work), 'require');
  });

  it('type-checks and runs in TypeScript as an ES module (module nodenext)', () => {
    const dir = tsConsumer('ts-esm', 'module', 'main.ts', { module: 'nodenext' });
    run(tsc, ['-p', '.'], dir);
    expectForward(run(process.execPath, ['out/main.js'], dir), 'TypeScript nodenext ESM');
  });

  it('type-checks and runs in TypeScript as CommonJS (module nodenext, a .cts file)', () => {
    const dir = tsConsumer('ts-cts', 'module', 'main.cts', { module: 'nodenext' });
    run(tsc, ['-p', '.'], dir);
    expectForward(run(process.execPath, ['out/main.cjs'], dir), 'TypeScript nodenext CommonJS');
  });

  it('type-checks and runs in TypeScript as CommonJS (module commonjs, no type: module)', () => {
    const dir = tsConsumer('ts-cjs', 'commonjs', 'main.ts', { module: 'commonjs' });
    run(tsc, ['-p', '.'], dir);
    expectForward(run(process.execPath, ['out/main.js'], dir), 'TypeScript commonjs');
  });

  it.runIf(PREBUILT)('runs `rnnkit info` and `rnnkit complete` on the native prebuild, installed without scripts', () => {
    const info = npxRnnkit(['info']);
    expect(info).toMatch(/^active backend: native$/m);
    // The addon is the packed prebuild, not one built in the consumer's folder or found in this repository.
    expect(info).toContain(`(${join(installed, 'prebuilds', 'linux-x64', 'rnnkit.glibc.node')})`);
    const top = JSON.parse(npxRnnkit(['complete', 'Joh', '--json'], { RNNKIT_BACKEND: 'native' })) as
      { predictions: { token: string }[] };
    expect(top.predictions[0]!.token).toBe('n');
  });

  it('falls back to WASM where no prebuild fits, with a one-line hint of how to get native', () => {
    // Another platform, as seen from here: the consumer's copy without this platform's prebuild.
    const mine = join(installed, 'prebuilds', `${process.platform}-${process.arch}`);
    const away = `${mine}.away`;
    if (PREBUILT) renameSync(mine, away);
    try {
      const info = npxRnnkit(['info']);
      expect(info).toMatch(/^active backend: wasm$/m);
      const native = info.split('\n').find((l) => /^\s*native\s/.test(l)) ?? '';
      expect(native).toMatch(/unavailable: /);
      expect(native).toContain(`no prebuilt addon for ${process.platform}-${process.arch}`);
      expect(native).toContain('`npm rebuild rnnkit`');
      const top = JSON.parse(npxRnnkit(['complete', 'Joh', '--json'])) as { predictions: { token: string }[] };
      expect(top.predictions[0]!.token).toBe('n');
    } finally {
      if (PREBUILT) renameSync(away, mine);
    }
  });

  it('type-checks in TypeScript as CommonJS under module node16 with skipLibCheck', () => {
    // node16 models a Node that cannot require() ES modules, so TypeScript flags the re-export inside
    // rnnkit's CommonJS declarations (TS1479); with skipLibCheck (tsc --init's default) the consumer's own
    // code checks against the real types.
    const dir = tsConsumer('ts-node16', 'commonjs', 'main.ts', { module: 'node16', skipLibCheck: true });
    run(tsc, ['-p', '.'], dir);
    expectForward(run(process.execPath, ['out/main.js'], dir), 'TypeScript node16 CommonJS');
  });
});

describe('package.json scripts', () => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

  it('has no script that npm would run as another one\'s pre or post hook by accident', () => {
    // `npm run build` runs a script named "prebuild" first, whatever it is meant for.
    const hooks = Object.keys(scripts).filter((name) => {
      const m = /^(pre|post)(.+)$/.exec(name);
      return m !== null && m[2]! in scripts && !['prepack', 'prepare', 'pretest', 'postpack'].includes(name);
    });
    expect(hooks).toEqual([]);
  });

  it('builds the prebuilds on npm pack (the prepack step)', () => {
    expect(scripts.prepack).toBe('node scripts/prepack.cjs');
  });

  it('prepack refuses a platform it cannot build, before building anything', () => {
    const r = spawnSync(process.execPath, ['scripts/prepack.cjs', 'x64,sparc'], { cwd: root, env: childEnv, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknown arch "sparc" (expected x64, arm64)');
    expect(r.stderr).not.toContain('cmake-js');
  });
});
