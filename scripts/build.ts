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
 * Each folder's manifest.json holds the SHA-256 of every file its build read.
 *
 *   tsx scripts/build.ts             build both
 *   tsx scripts/build.ts --if-stale  build only the ones that are missing or that a file they
 *                                    were built from changed (npm start does this first; the
 *                                    test runner, which runs the sources, for dist/web)
 *
 * Staleness is by content: a build is fresh while every input listed in its manifest (each
 * entry's whole import graph as esbuild's metafile names it, the copied files, this script and
 * src/web/assets.ts) still hashes to what it was, and every file it makes is there.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildSync, type BuildOptions } from 'esbuild';
import { MANIFEST, PROJECT_DIR, WEB_DIR, WEB_FILES, type WebManifest } from '../src/web/assets.ts';

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

const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const summary = (r: BuildReport) => `${r.files} files, ${kb(r.bytes)}${r.gzipBytes ? ` (${kb(r.gzipBytes)} gzip)` : ''} in ${r.ms} ms`;

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    const ifStale = process.argv.includes('--if-stale');
    for (const [dir, build, server] of [
      [SERVER_DIR, buildServer, true],
      [WEB_DIR, buildWeb, false],
    ] as const) {
      const why = ifStale ? whyStale(dir, server) : undefined;
      if (ifStale && !why) continue;
      const r = build(dir);
      console.log(`built ${path.relative(ROOT, r.dir)}${why ? ` (${why})` : ''}: ${summary(r)}`);
    }
  } catch (e) {
    process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
