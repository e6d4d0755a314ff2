/**
 * `npm run build`: the two things the NS runs from, built once with esbuild:
 *
 * - dist/server/: the server and the CLI as JavaScript (`node dist/server/cli.js`, what
 *   `npm start` and bin/nextauth.js run), one ES module per entry plus shared chunks, so a
 *   command loads only what it uses; packages stay in node_modules (imported, not bundled).
 *   Nothing of TypeScript, tsx or esbuild is loaded when it runs.
 * - dist/web/: every browser script and style of src/web/ — minified, each with a gzip copy —
 *   plus the two browser files the NS serves as their packages ship them (socket.io's client,
 *   Mermaid). Its manifest holds each file's version (the first 12 hex digits of its SHA-256).
 *   The server reads dist/web at start (src/web/assets.ts) and builds nothing.
 *
 * - packages/<name>/dist/: the npm packages, built from src/ (no package holds a source of its own):
 *   `@nextauth/app` (src/sdk with src/wire), `@nextauth/browser` (src/web/footer.ts as an ES
 *   module, plus the IIFE and the stylesheet of dist/web), `@nextauth/node` (src/rp). Each: ES
 *   modules by esbuild (packages left as imports), declarations by TypeScript from the package's
 *   tsconfig.json (`dist/types/`, their relative imports ending in `.js`). The manifest is
 *   dist/packages.json.
 *
 * Each folder's manifest.json holds the SHA-256 of every file its build read.
 *
 *   tsx scripts/build.ts                       build all three
 *   tsx scripts/build.ts --if-stale            build only the ones that are missing or that a file
 *                                              they were built from changed
 *   tsx scripts/build.ts --if-stale server web only those (npm start: what the server runs from;
 *                                              the test runner, which runs the sources, builds
 *                                              dist/web, and the packages for the tests that use them)
 *
 * Staleness is by content: a build is fresh while every input listed in its manifest (each
 * entry's whole import graph as esbuild's metafile names it, the copied files, this script and
 * src/web/assets.ts) still hashes to what it was, and every file it makes is there.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildSync, type BuildOptions } from 'esbuild';
import type * as TS from 'typescript';
import { MANIFEST, PROJECT_DIR, WEB_DIR, WEB_FILES, type WebFile, type WebManifest } from '../src/web/assets.ts';

const ROOT = PROJECT_DIR;
/** Where the server's JavaScript goes, and its entries (name in dist/server → source). */
export const SERVER_DIR = path.join(ROOT, 'dist', 'server');
const SERVER_ENTRIES = { cli: 'src/cli/cli.ts' };
const require = createRequire(import.meta.url);

interface Entry {
  /** The file in dist/web (served under this name). */
  out: string;
  /** The source, from the project folder. */
  entry: string;
  target?: string;
  globalName?: string;
}

/** What esbuild builds. */
const ENTRIES: Entry[] = [
  // The footer script runs on relying parties' pages: an IIFE for old browsers too.
  { out: 'nextauth.js', entry: 'src/web/nextauth.ts', target: 'es2017' },
  { out: 'nextauth.css', entry: 'src/web/nextauth.css' },
  { out: 'demo.css', entry: 'src/web/demo.css' },
  { out: 'site.js', entry: 'src/web/demo-site.ts' },
  { out: 'phone.js', entry: 'src/web/phone-panel.ts' },
  // The app SDK alone, as the global `NextAuthSdk` (for anyone who wants to try it in a page).
  { out: 'sdk.js', entry: 'src/sdk/app.ts', globalName: 'NextAuthSdk' },
  { out: 'inspect.css', entry: 'src/web/inspect.css' },
  { out: 'inspect.js', entry: 'src/web/inspect.ts' },
];

/** What is copied as its package ships it (already minified). */
const COPIES = [
  { out: 'socket.io.min.js', from: path.join(path.dirname(require.resolve('socket.io/package.json')), 'client-dist', 'socket.io.min.js') },
  { out: 'mermaid.min.js', from: path.join(path.dirname(require.resolve('mermaid/package.json')), 'dist', 'mermaid.min.js') },
];

/** Inputs of every build besides the entries' import graphs. */
const ALWAYS = [fileURLToPath(import.meta.url), path.join(ROOT, 'src', 'web', 'assets.ts')];

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const fromRoot = (file: string): string => path.relative(ROOT, path.resolve(ROOT, file)).split(path.sep).join('/');

function bundle(e: Entry): { bytes: Uint8Array; inputs: string[] } {
  const options: BuildOptions = {
    absWorkingDir: ROOT,
    entryPoints: [e.entry],
    bundle: true,
    write: false,
    metafile: true,
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
    outfile: e.out,
    ...(e.entry.endsWith('.css') ? {} : { format: 'iife', platform: 'browser', target: [e.target ?? 'es2020'] }),
    ...(e.globalName ? { globalName: e.globalName } : {}),
  };
  const result = buildSync(options);
  const file = result.outputFiles?.find((f) => !f.path.endsWith('.map'));
  if (!file) throw new Error(`esbuild made no output for ${e.entry}`);
  return { bytes: file.contents, inputs: Object.keys(result.metafile?.inputs ?? {}) };
}

export interface BuildReport {
  dir: string;
  files: number;
  bytes: number;
  gzipBytes: number;
  ms: number;
}

/** Builds dist/web (into a fresh folder, swapped in whole when done). */
export function buildWeb(dir: string = WEB_DIR): BuildReport {
  const started = Date.now();
  const outputs = new Map<string, Uint8Array>();
  const inputs = new Set<string>(ALWAYS.map(fromRoot));
  for (const e of ENTRIES) {
    const { bytes, inputs: read } = bundle(e);
    outputs.set(e.out, bytes);
    // Files only: not esbuild's stand-ins such as `(disabled):crypto` (a browser field's false).
    for (const file of read) if (existsSync(path.resolve(ROOT, file))) inputs.add(fromRoot(file));
  }
  for (const c of COPIES) {
    outputs.set(c.out, readFileSync(c.from));
    inputs.add(fromRoot(c.from));
  }
  const missing = WEB_FILES.filter((name) => !outputs.has(name));
  if (missing.length) throw new Error(`scripts/build.ts makes no ${missing.join(', ')} (src/web/assets.ts WEB_FILES names them)`);

  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const manifest: WebManifest = { built: new Date().toISOString(), files: {}, inputs: {} };
  let bytes = 0;
  let gzipBytes = 0;
  for (const [name, body] of outputs) {
    const gzip = gzipSync(body, { level: 9 });
    writeFileSync(path.join(tmp, name), body);
    writeFileSync(path.join(tmp, `${name}.gz`), gzip);
    manifest.files[name] = { version: sha256(body).slice(0, 12), bytes: body.length };
    bytes += body.length;
    gzipBytes += gzip.length;
  }
  for (const file of [...inputs].sort()) manifest.inputs[file] = sha256(readFileSync(path.join(ROOT, file)));
  writeFileSync(path.join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  swapIn(tmp, dir);
  return { dir, files: outputs.size, bytes, gzipBytes, ms: Date.now() - started };
}

/**
 * Builds dist/server: each entry an ES module for node, its imports of packages left as they
 * are, shared code in chunks; into a fresh folder, swapped in whole when done.
 */
export function buildServer(dir: string = SERVER_DIR): BuildReport {
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = buildSync({
    absWorkingDir: ROOT,
    entryPoints: SERVER_ENTRIES,
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: ['node20'],
    packages: 'external',
    sourcemap: 'linked',
    metafile: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'silent',
  });
  const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
  const manifest: WebManifest = { built: new Date().toISOString(), files: {}, inputs: {} };
  for (const [file, out] of outputs) manifest.files[path.relative(tmp, path.resolve(ROOT, file))] = { version: '', bytes: out.bytes };
  const inputs = new Set([fromRoot(fileURLToPath(import.meta.url)), ...Object.keys(result.metafile.inputs).map(fromRoot)]);
  for (const file of [...inputs].sort()) manifest.inputs[file] = sha256(readFileSync(path.join(ROOT, file)));
  writeFileSync(path.join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  swapIn(tmp, dir);
  const bytes = outputs.reduce((n, [, out]) => n + out.bytes, 0);
  return { dir, files: outputs.length, bytes, gzipBytes: 0, ms: Date.now() - started };
}

// ───────────────────────── the npm packages ─────────────────────────

/** Where the packages' manifest goes (beside the other builds, not in a package). */
export const PACKAGES_MANIFEST = path.join(ROOT, 'dist', 'packages.json');

interface PackageSpec {
  /** The folder under packages/. */
  dir: string;
  /** dist/<name>.js → its source. */
  entries: Record<string, string>;
  platform: 'node' | 'browser' | 'neutral';
  target: string;
  /** Files of dist/web (built as they are for the NS) copied into dist/. */
  web?: WebFile[];
}

/** What each package is built from; the package.json beside names the same files in `exports`. */
export const PACKAGES: PackageSpec[] = [
  // Node 20, browsers and React Native alike (node:fs only in file-keystore).
  { dir: 'app', entries: { index: 'src/sdk/app.ts', 'file-keystore': 'src/sdk/file-keystore.ts' }, platform: 'neutral', target: 'es2020' },
  { dir: 'browser', entries: { index: 'src/web/footer.ts' }, platform: 'browser', target: 'es2017', web: ['nextauth.js', 'nextauth.css'] },
  { dir: 'node', entries: { index: 'src/rp/index.ts', express: 'src/rp/express.ts', fastify: 'src/rp/fastify.ts' }, platform: 'node', target: 'node20' },
];

const packageDir = (p: PackageSpec) => path.join(ROOT, 'packages', p.dir);

/** Every file under `dir` (paths relative to it, with /). */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/**
 * The declarations of one package (its tsconfig.json) into `outDir`; gives the project files they
 * were made from. Relative imports are written with `.js`, as the JavaScript beside them has them.
 */
function declarations(ts: typeof TS, host: TS.CompilerHost, p: PackageSpec, outDir: string): string[] {
  const configFile = path.join(packageDir(p), 'tsconfig.json');
  const config = ts.getParsedCommandLineOfConfigFile(
    configFile,
    { outDir },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error(`cannot read ${fromRoot(configFile)}`);
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host });
  const problems = [...program.getOptionsDiagnostics(), ...program.getSyntacticDiagnostics(), ...config.errors].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (problems.length) throw new Error(`${p.dir} declarations:\n${ts.formatDiagnostics(problems, { ...host, getNewLine: () => '\n', getCanonicalFileName: (f) => f })}`);
  const emitted = program.emit(
    undefined,
    (file, text) => {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text.replace(/(from\s+|import\()'(\.{1,2}\/[^']+)\.ts'/g, "$1'$2.js'"));
    },
    undefined,
    true,
  );
  if (emitted.emitSkipped) throw new Error(`${p.dir}: TypeScript wrote no declarations`);
  return program
    .getSourceFiles()
    .map((f) => path.resolve(f.fileName))
    .filter((f) => f.startsWith(ROOT + path.sep) && !f.includes(`${path.sep}node_modules${path.sep}`));
}

/** Builds every package's dist/ (each into a fresh folder, swapped in whole when done). */
export function buildPackages(): BuildReport {
  const started = Date.now();
  const ts = require('typescript') as typeof TS;
  // One host for the three programs: the libraries' declarations are read and parsed once.
  const host = ts.createCompilerHost({});
  const parsed = new Map<string, TS.SourceFile | undefined>();
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, language, ...rest) => {
    const key = typeof language === 'object' ? `${file}\0${language.languageVersion}\0${language.impliedNodeFormat}` : `${file}\0${language}`;
    if (!parsed.has(key)) parsed.set(key, getSourceFile(file, language, ...rest));
    return parsed.get(key);
  };
  const manifest: WebManifest = { built: new Date().toISOString(), files: {}, inputs: {} };
  const inputs = new Set<string>([...ALWAYS.map(fromRoot), 'tsconfig.json']);
  const web = new Map(ENTRIES.map((e) => [e.out, e]));
  let bytes = 0;
  for (const p of PACKAGES) {
    const dir = path.join(packageDir(p), 'dist');
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const result = buildSync({
      absWorkingDir: ROOT,
      entryPoints: p.entries,
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: p.platform,
      target: [p.target],
      packages: 'external',
      external: ['node:*'],
      chunkNames: 'chunks/[name]-[hash]',
      metafile: true,
      legalComments: 'inline',
      charset: 'utf8',
      logLevel: 'silent',
    });
    for (const file of Object.keys(result.metafile.inputs)) if (existsSync(path.resolve(ROOT, file))) inputs.add(fromRoot(file));
    for (const name of p.web ?? []) {
      const entry = web.get(name);
      if (!entry) throw new Error(`${name} is not a file of dist/web`);
      const { bytes: body, inputs: read } = bundle(entry);
      writeFileSync(path.join(tmp, name), body);
      for (const file of read) if (existsSync(path.resolve(ROOT, file))) inputs.add(fromRoot(file));
    }
    for (const file of declarations(ts, host, p, path.join(tmp, 'types'))) inputs.add(fromRoot(file));
    inputs.add(fromRoot(path.join(packageDir(p), 'tsconfig.json')));
    swapIn(tmp, dir);
    for (const file of filesUnder(dir)) {
      const size = statSync(path.join(dir, file)).size;
      manifest.files[fromRoot(path.join(dir, file))] = { version: '', bytes: size };
      bytes += size;
    }
  }
  for (const file of [...inputs].sort()) manifest.inputs[file] = sha256(readFileSync(path.join(ROOT, file)));
  mkdirSync(path.dirname(PACKAGES_MANIFEST), { recursive: true });
  writeFileSync(PACKAGES_MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir: path.join(ROOT, 'packages'), files: Object.keys(manifest.files).length, bytes, gzipBytes: 0, ms: Date.now() - started };
}

/** Moves the new folder in: a reader sees the old build or the new one, each whole. */
function swapIn(tmp: string, dir: string): void {
  const old = `${dir}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Why dist/web (or, with `server`, dist/server) must be built again, or undefined when it is fresh. */
export function whyStale(dir: string = WEB_DIR, server = false): string | undefined {
  let manifest: WebManifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as WebManifest;
  } catch {
    return `${path.relative(ROOT, dir)} is not built`;
  }
  if (server) {
    for (const [name, entry] of Object.entries(SERVER_ENTRIES)) if (!manifest.inputs?.[entry] || !existsSync(path.join(dir, `${name}.js`))) return `${name}.js is missing`;
    for (const name of Object.keys(manifest.files ?? {})) if (!existsSync(path.join(dir, name))) return `${name} is missing`;
  } else {
    for (const name of WEB_FILES) {
      if (!manifest.files?.[name] || !existsSync(path.join(dir, name)) || !existsSync(path.join(dir, `${name}.gz`))) return `${name} is missing`;
    }
  }
  return changedInput(manifest);
}

/** Why a build with this manifest is stale by its inputs (one changed or is gone), or undefined. */
function changedInput(manifest: WebManifest): string | undefined {
  for (const [file, hash] of Object.entries(manifest.inputs ?? {})) {
    let now: string;
    try {
      now = sha256(readFileSync(path.join(ROOT, file)));
    } catch {
      return `${file} is gone`;
    }
    if (now !== hash) return `${file} changed`;
  }
  if (!manifest.inputs?.[fromRoot(fileURLToPath(import.meta.url))]) return 'the manifest lists no inputs';
  return undefined;
}

/** Why the packages must be built again, or undefined when they are fresh. */
export function whyPackagesStale(): string | undefined {
  let manifest: WebManifest;
  try {
    manifest = JSON.parse(readFileSync(PACKAGES_MANIFEST, 'utf8')) as WebManifest;
  } catch {
    return 'the packages are not built';
  }
  for (const p of PACKAGES) {
    for (const name of Object.keys(p.entries)) if (!manifest.files?.[`packages/${p.dir}/dist/${name}.js`]) return `packages/${p.dir}/dist/${name}.js is missing`;
  }
  for (const file of Object.keys(manifest.files ?? {})) if (!existsSync(path.join(ROOT, file))) return `${file} is missing`;
  return changedInput(manifest);
}

let ensured = false;

/**
 * Builds dist/web when it is stale (once per process; later calls do nothing). Says so on stderr
 * when it builds; quiet otherwise.
 */
export function ensureWebBuild(dir: string = WEB_DIR): void {
  if (ensured) return;
  const why = whyStale(dir);
  if (why) {
    const r = buildWeb(dir);
    process.stderr.write(`built ${path.relative(ROOT, r.dir)} (${why}): ${summary(r)}\n`);
  }
  ensured = true;
}

let serverEnsured = false;

/** Builds dist/server when it is stale (once per process), as ensureWebBuild does dist/web: tests run the compiled CLI as users do. */
export function ensureServerBuild(): void {
  if (serverEnsured) return;
  const why = whyStale(SERVER_DIR, true);
  if (why) {
    const r = buildServer(SERVER_DIR);
    process.stderr.write(`built ${path.relative(ROOT, r.dir)} (${why}): ${summary(r)}\n`);
  }
  serverEnsured = true;
}

/** The compiled CLI's arguments for node: `[...CLI, 'start', …]` (after ensureServerBuild). */
export const CLI = [path.join(SERVER_DIR, 'cli.js')];

let packagesEnsured = false;

/** Builds the packages when they are stale (once per process), as ensureWebBuild does dist/web. */
export function ensurePackagesBuild(): void {
  if (packagesEnsured) return;
  const why = whyPackagesStale();
  if (why) {
    const r = buildPackages();
    process.stderr.write(`built packages/*/dist (${why}): ${summary(r)}\n`);
  }
  packagesEnsured = true;
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const summary = (r: BuildReport) => `${r.files} files, ${kb(r.bytes)}${r.gzipBytes ? ` (${kb(r.gzipBytes)} gzip)` : ''} in ${r.ms} ms`;

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    const args = process.argv.slice(2);
    const ifStale = args.includes('--if-stale');
    const named = args.filter((a) => !a.startsWith('--'));
    const builds = {
      server: { stale: () => whyStale(SERVER_DIR, true), build: () => buildServer(SERVER_DIR) },
      web: { stale: () => whyStale(WEB_DIR), build: () => buildWeb(WEB_DIR) },
      packages: { stale: whyPackagesStale, build: buildPackages },
    };
    const unknown = named.filter((n) => !(n in builds));
    if (unknown.length) throw new Error(`unknown build ${unknown.join(', ')} (known: ${Object.keys(builds).join(', ')})`);
    for (const [name, b] of Object.entries(builds)) {
      if (named.length && !named.includes(name)) continue;
      const why = ifStale ? b.stale() : undefined;
      if (ifStale && !why) continue;
      const r = b.build();
      console.log(`built ${path.relative(ROOT, r.dir)}${name === 'packages' ? '/*/dist' : ''}${why ? ` (${why})` : ''}: ${summary(r)}`);
    }
  } catch (e) {
    process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
