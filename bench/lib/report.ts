/** The Markdown table of a run, in bench/README.md between the results markers. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CryptoBaseline } from '../crypto-baseline.ts';
import type { FloorBaseline } from '../floor-baseline.ts';
import type { WsBaseline } from '../ws-baseline.ts';
import type { Machine } from './machine.ts';
import { repoRoot } from './server.ts';
import { ratio, type Latency } from './stats.ts';

export function updateReadme(r: Record<string, any>, resultsPath: string, parts: { table: boolean; cluster: boolean } = { table: true, cluster: false }): void {
  const file = path.join(repoRoot, 'bench/README.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark\n\n<!-- results:start -->\n<!-- results:end -->\n';
  const replace = (name: string, content: string) => {
    const start = `<!-- ${name}:start -->`;
    const end = `<!-- ${name}:end -->`;
    const i = text.indexOf(start);
    const j = text.indexOf(end);
    if (i < 0 || j < i) throw new Error(`bench/README.md has no ${name} markers`);
    text = `${text.slice(0, i + start.length)}\n${content}${text.slice(j)}`;
  };
  if (parts.table) replace('results', renderTable(r, resultsPath));
  if (parts.cluster) replace('cluster', renderCluster(r, resultsPath));
  writeFileSync(file, text);
}

/** The cluster section (--cluster): each form's figures beside the embedded NS's, the counts per login, the projection. */
export function renderCluster(r: Record<string, any>, resultsPath: string): string {
  const c = r.cluster;
  const m: Machine = r.machine;
  const n = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const labels: Record<string, string> = { embedded: 'embedded store, 1 process' };
  for (const [label, run] of Object.entries<any>(c.runs)) labels[label] = run.workers > 1 ? `PostgreSQL + Redis, --workers ${run.workers}` : 'PostgreSQL + Redis, 1 process';
  const forms = Object.entries<any>(c.forms);
  const rows: string[][] = [];
  const row = (title: string, cell: (f: any, label: string) => string) => rows.push([title, ...forms.map(([label, f]) => cell(f, label))]);
  const vs = (label: string, at: 'closedLoop' | 'commonRate', what: 'nsCpuPerLogin' | 'totalCpuPerLogin') =>
    label === 'embedded' ? '' : ` (**× ${n(c.ratios[label][at][what], 2)}**)`;
  const lat = (l: { p50: number; p99: number }) => `${n(l.p50, 1)} / ${n(l.p99, 1)} ms`;
  /** logins/s: tenths below 100 */
  const rate = (x: number) => n(x, x < 100 ? 1 : 0);
  const cores = (f: any) => {
    const w = f.window;
    return `${n(f.nsCores, 2)} / ${n(w.generatorCores, 2)} / ${w.backendCores ? `${n(w.backendCores.postgres, 2)} / ${n(w.backendCores.redis, 2)}` : '– / –'} / ${n(w.otherCores, 2)}`;
  };
  const phones = forms[0]![1].closedLoop.phones;
  rows.push([`**closed loop, ${phones} phones**`, ...forms.map(() => '')]);
  row('logins/s', (f) => `${rate(f.closedLoop.perSecond)} (${n(f.closedLoop.logins)} logins, ${f.closedLoop.errors} errors)`);
  row('latency proof → browser LOGIN, p50 / p99', (f) => lat(f.closedLoop.latencyMs));
  row(
    'NS CPU per login, all its processes',
    (f, label) =>
      `${n(f.closedLoop.nsCpuUsPerLogin)} µs${vs(label, 'closedLoop', 'nsCpuPerLogin')}; in the kernel ${n(f.closedLoop.nsSystemCpuUsPerLogin)} µs${f.closedLoop.primaryCpuUsPerLogin !== undefined ? `; the primary ${n(f.closedLoop.primaryCpuUsPerLogin)} µs` : ''}`,
  );
  row('NS + PostgreSQL + Redis CPU per login', (f, label) => `${n(f.closedLoop.totalCpuUsPerLogin)} µs${vs(label, 'closedLoop', 'totalCpuPerLogin')}`);
  row('cores busy: NS / generator / PostgreSQL / Redis / other processes', (f) => cores(f.closedLoop));
  rows.push([`**paced: ${n(c.commonRate)} logins/s offered to each form**`, ...forms.map(() => '')]);
  row('logins/s done; latency p50 / p99', (f) => `${rate(f.commonRate.perSecond)}; ${lat(f.commonRate.latencyMs)}`);
  row(
    'NS CPU per login, all its processes',
    (f, label) => `${n(f.commonRate.nsCpuUsPerLogin)} µs${vs(label, 'commonRate', 'nsCpuPerLogin')}; in the kernel ${n(f.commonRate.nsSystemCpuUsPerLogin)} µs`,
  );
  row('NS + PostgreSQL + Redis CPU per login', (f, label) => `${n(f.commonRate.totalCpuUsPerLogin)} µs${vs(label, 'commonRate', 'totalCpuPerLogin')}`);
  row('cores busy: NS / generator / PostgreSQL / Redis / other processes', (f) => cores(f.commonRate));
  if (forms.some(([, f]) => f.perProcessRate)) {
    // The same rate per process: --workers N at N × R (the others carried R per process above).
    const same = '(as above)';
    const cell = (f: any, text: (p: any) => string) => (f.perProcessRate ? text(f.perProcessRate) : same);
    const x = (label: string, what: 'nsCpuPerLogin' | 'totalCpuPerLogin') => ` (**× ${n(c.ratios[label].perProcessRate[what], 2)}**)`;
    rows.push([`**paced: ${n(c.commonRate)} logins/s offered per NS process (N × that to --workers N)**`, ...forms.map(() => '')]);
    row('logins/s offered; done; latency p50 / p99', (f) => cell(f, (p) => `${n(p.offeredPerSecond)}; ${rate(p.perSecond)}; ${lat(p.latencyMs)}`));
    row('NS CPU per login, all its processes', (f, label) =>
      cell(f, (p) => `${n(p.nsCpuUsPerLogin)} µs${x(label, 'nsCpuPerLogin')}; in the kernel ${n(p.nsSystemCpuUsPerLogin)} µs`),
    );
    row('NS + PostgreSQL + Redis CPU per login', (f, label) => cell(f, (p) => `${n(p.totalCpuUsPerLogin)} µs${x(label, 'totalCpuPerLogin')}`));
    row('cores busy: NS / generator / PostgreSQL / Redis / other processes', (f) => cell(f, cores));
  }
  rows.push(['**per login (closed loop), counted at the proxies**', ...forms.map(() => '')]);
  row('PostgreSQL round trips (Sync + Query)', (f) => (f.closedLoop.postgres ? n(f.closedLoop.postgres.roundTripsPerLogin, 2) : '–'));
  row('PostgreSQL CPU (this database’s backends + the server’s own processes)', (f) => (f.closedLoop.postgres ? `${n(f.closedLoop.postgres.cpuUsPerLogin)} µs` : '–'));
  row('Redis commands (in pipelined writes)', (f) => (f.closedLoop.redis ? `${n(f.closedLoop.redis.commandsPerLogin, 2)} (${n(f.closedLoop.redis.writesPerLogin, 2)})` : '–'));
  row('Redis CPU (main thread); other clients of Redis in the window', (f) =>
    f.closedLoop.redis ? `${n(f.closedLoop.redis.mainThreadCpuUsPerLogin)} µs; ${n(f.closedLoop.redis.otherClients)}` : '–',
  );
  row('1 phone: latency p50 / p99; NS CPU per login', (f) => `${lat(f.onePhone.latencyMs)}; ${n(f.onePhone.nsCpuUsPerLogin)} µs`);
  const table = [`| | ${forms.map(([label]) => labels[label]).join(' | ')} |`, `|---|${forms.map(() => '---').join('|')}|`, ...rows.map((cells) => `| ${cells.join(' | ')} |`)];

  const lastLabel = Object.keys(c.runs).at(-1)!;
  const many = c.runs[lastLabel].loginStorm.manyPhones.backend;
  const perLogin = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([, v]) => v >= 0.05)
      .map(([k, v]) => `${k} ${n(v, 2)}`)
      .join(', ');
  const cap = c.capacity;
  const bounds = Object.entries<number>(cap.bounds).map(([k, v]) => `${k} ${n(v)}/s`);
  return [
    '',
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (results: [${resultsPath}](${resultsPath})); PostgreSQL at ${c.postgres}, Redis at ${c.redis}, both on this machine.`,
    '',
    `Machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpuModel}, ${n(m.memTotalMiB)} MiB, node ${m.node}, Linux ${m.kernel}, load average ${m.loadAverageAtStart} at the start.`,
    '',
    ...table,
    '',
    `Per login, ${labels[lastLabel]}, closed loop: PostgreSQL statements ${perLogin(many.postgres.byStatementPerLogin)}; Redis commands ${perLogin(many.redis.byCommandPerLogin)}.`,
    '',
    `Capacity from the measured costs per login (${labels[cap.from]}, closed loop${cap.workersFactor > 1 ? `, the NS's × ${n(cap.workersFactor, 2)} for the workers` : ''}: NS ${n(cap.perLoginUs.ns)} µs, PostgreSQL ${n(cap.perLoginUs.postgres)} µs, Redis main thread ${n(cap.perLoginUs.redisMainThread)} µs), each at 100 % CPU: ${bounds.join('; ')}. ` +
      `**1 machine × ${cap.cores} cores: ${n(cap.oneMachine.loginsPerSecond)} logins/s** (bound: ${cap.oneMachine.boundBy}); ` +
      `**${cap.machines} such machines: ${n(cap.fourMachines.loginsPerSecond)} logins/s** (bound: ${cap.fourMachines.boundBy}; ${n(cap.fourMachines.nsCoresBusy, 1)} NS cores busy). The embedded store, one process: ${n(cap.embeddedOneProcess)} logins/s at most. Assumptions: ${cap.assumptions}.`,
    '',
  ].join('\n');
}

export function renderTable(r: Record<string, any>, resultsPath: string): string {
  const m: Machine = r.machine;
  const c: CryptoBaseline = r.baselines.crypto;
  const w: WsBaseline = r.baselines.ws;
  const f: FloorBaseline | undefined = r.baselines.floor;
  const s = r.scenarios;
  const many = s.loginStorm?.manyPhones;
  const one = s.loginStorm?.onePhone;
  const enrol = s.enrolBurst;
  const idle = s.idleBrowsers;
  const n = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const lat = (l: Latency) => `${n(l.p50, 2)} / ${n(l.p95, 2)} / ${n(l.p99, 2)} ms`;
  const kib = (b: number) => `${n(b / 1024, 1)} KiB`;
  const rows: string[][] = [];
  const row = (...cells: string[]) => rows.push(cells);
  if (many && one) {
    row('**(a) login storm**', '', '', '');
    row(
      `completed logins/s (${many.concurrency} phones, ${n(many.seconds, 0)} s, ${n(many.logins)} logins, ${many.errors} errors)`,
      n(many.perSecond),
      `pure crypto ${n(c.loginCryptoPerSecondPerCore)}/s per core; bare ws ${n(w.roundTripN.perSecond)} round trips/s, ${n(w.connectN.perSecond)} connects/s${f ? `; floor server ${n(f.manyPhones.perSecond)}/s` : ''}`,
      `${r.ratios.loginsPerSecondVsCryptoBoundCore}; ${r.ratios.loginsPerSecondVsWsRoundTrips}; ${r.ratios.loginsPerSecondVsWsConnects}${f ? `; ${r.ratios.loginsPerSecondVsFloor}` : ''}`,
    );
    row(
      'latency proof → browser LOGIN, p50 / p95 / p99 (1 phone)',
      lat(one.latencyMs),
      `bare ws round trip p50 ${n(w.roundTrip1.latencyMs.p50, 3)} ms${f ? `; floor server ${lat(f.onePhone.latencyMs)}` : ''}`,
      `× ${r.ratios.latencyP50VsWsRoundTripOnePhone}${f ? `; × ${r.ratios.latencyP50VsFloorOnePhone}` : ''}`,
    );
    row(
      `latency proof → browser LOGIN, p50 / p95 / p99 (${many.concurrency} phones)`,
      lat(many.latencyMs),
      `bare ws round trip p50 ${n(w.roundTripN.latencyMs.p50, 3)} ms (${w.roundTripN.concurrency} sockets)`,
      `× ${r.ratios.latencyP50VsWsRoundTripManyPhones}`,
    );
    row(`latency proof → phone result, p50 / p95 / p99 (${many.concurrency} phones)`, lat(many.resultLatencyMs), '', '');
    const paced = s.loginStorm.pacedPhones;
    if (paced) {
      row(
        `latency proof → browser LOGIN, p50 / p95 / p99, at ${n(paced.offeredPerSecond)} logins/s offered (70 % of the above; ${n(paced.perSecond)}/s done, ${paced.errors} errors)`,
        lat(paced.latencyMs),
        `server ${n(paced.window.serverCores, 2)} cores, ${n(paced.serverCpuUsPerLogin)} µs per login`,
        '',
      );
    }
    row(
      'server CPU per login',
      `${n(many.serverCpuUsPerLogin)} µs`,
      `pure crypto ${n(c.loginCryptoUs, 0)} µs; bare ws connect ${n(w.connectN.serverCpuUs, 0)} µs${f ? `; floor server ${n(f.manyPhones.serverCpuUsPerLogin)} µs` : ''}`,
      `× ${r.ratios.serverCpuPerLoginVsPureCrypto}; × ${r.ratios.serverCpuPerLoginVsWsConnect}${f ? `; × ${r.ratios.serverCpuPerLoginVsFloor}` : ''}`,
    );
    row(
      'CPU during the storm: server / generator / other processes',
      `${n(many.window.serverCores, 2)} / ${n(many.window.generatorCores, 2)} / ${n(many.window.otherCores, 2)} cores`,
      `${m.nproc} cores`,
      '',
    );
    const t: number[] = many.perSecondTimeline ?? [];
    if (t.length >= 4) row('logins/s second by second, first 3 … last 3 (full seconds)', `${t.slice(0, 3).join(', ')} … ${t.slice(-4, -1).join(', ')}`, '', '');
    row(
      'data files at the end of the storm (a JSON file is only written whole; a journal is appended to)',
      Object.entries(many.files as Record<string, { endBytes: number; growthBytesPer: number }>)
        .map(([f, v]) => `${f} ${n(v.endBytes / 2 ** 20, 2)} MiB`)
        .join('; '),
      Object.entries(many.files as Record<string, { endBytes: number; growthBytesPer: number }>)
        .map(([f, v]) => `${f} +${n(v.growthBytesPer)} bytes per login`)
        .join('; '),
      '',
    );
    row('store changes per login; file writes per change', `${n(many.store.changesPer, 2)}; ${n(many.store.writesPerChange, 3)}`, storeText(many.store), '');
  }
  if (idle) {
    row('**(b) idle waiting browsers**', '', '', '');
    for (const [kind, label] of [
      ['text', 'text socket'],
      ['socketio', 'socket.io'],
    ] as const) {
      const k = idle[kind];
      row(
        `${label}: ${n(k.browsers)} waiting${k.browsers < k.asked ? ` (of ${n(k.asked)}: the server's open-file limit, ${n(idle.serverFdLimit)})` : ''}; RSS / heap per waiting browser`,
        `${kib(k.perWaitingBrowser.rssBytes)} / ${kib(k.perWaitingBrowser.heapBytes)}`,
        `session ${kib(k.perSession.rssBytes)} / ${kib(k.perSession.heapBytes)}; socket ${kib(k.perSocket.rssBytes)} / ${kib(k.perSocket.heapBytes)}`,
        '',
      );
    }
    row('browsers waiting at once; server RSS then', `${n(idle.heldAtOnce)}; ${n(idle.serverRssWithAll / 2 ** 20, 0)} MiB`, `open-file limit ${n(idle.serverFdLimit)}`, '');
  }
  const push = s.pushRoundTrip;
  if (push?.manyPhones && push?.onePhone) {
    row('**(c) push round trip to listening phones**', '', '', '');
    row(
      'latency PROVOKE → push at the phone, p50 / p95 / p99 (1 phone)',
      lat(push.onePhone.pushLatencyMs),
      `bare ws round trip p50 ${n(w.roundTrip1.latencyMs.p50, 3)} ms`,
      `× ${ratio(push.onePhone.pushLatencyMs.p50, w.roundTrip1.latencyMs.p50, 1)}`,
    );
    row(`latency PROVOKE → push at the phone, p50 / p95 / p99 (${push.manyPhones.concurrency} phones)`, lat(push.manyPhones.pushLatencyMs), '', '');
    row('latency PROVOKE → browser LOGIN (the phone logs in from the push), p50 / p95 / p99 (1 phone)', lat(push.onePhone.loginLatencyMs), '', '');
    row(`latency PROVOKE → browser LOGIN, p50 / p95 / p99 (${push.manyPhones.concurrency} phones)`, lat(push.manyPhones.loginLatencyMs), '', '');
    row(
      `push round trips/s (${push.manyPhones.concurrency} phones, ${push.manyPhones.errors} errors); server CPU per iteration (QR login + logout + PROVOKE + push login)`,
      `${n(push.manyPhones.perSecond, 1)}; ${n(push.manyPhones.serverCpuUsPerIteration)} µs`,
      many ? `storm: ${n(many.serverCpuUsPerLogin)} µs per login` : '',
      many ? `× ${ratio(push.manyPhones.serverCpuUsPerIteration, many.serverCpuUsPerLogin, 2)}` : '',
    );
  } else {
    row('**(c) push round trip**', 'not measured', push?.reason ?? 'not run (--only)', '');
  }
  if (enrol) {
    row('**(d) enrolment burst**', '', '', '');
    row(`enrolments/s (${n(enrol.enrolled)} phones, ${enrol.errors} errors)`, n(enrol.perSecond), '', '');
    row('latency getQrEnrol → account stored, p50 / p95 / p99', lat(enrol.latencyMs), '', '');
    row(
      'server CPU per enrolment',
      `${n(enrol.serverCpuUsPerEnrolment)} µs`,
      `pure crypto ${n(c.loginCryptoUs, 0)} µs`,
      `× ${ratio(enrol.serverCpuUsPerEnrolment, c.loginCryptoUs, 2)}`,
    );
    row('store changes per enrolment; file writes per change', `${n(enrol.store.changesPer, 2)}; ${n(enrol.store.writesPerChange, 3)}`, storeText(enrol.store), '');
  }
  const soak = s.soak;
  if (soak) {
    const warm = soak.timeline.find((x: { seconds: number }) => x.seconds >= soak.afterWarmUp.fromSeconds);
    const end = soak.timeline.at(-1);
    row(`**(e) soak: the storm for ${n(soak.seconds / 60, 1)} min; logins and idle sessions last ${soak.limitSeconds} s**`, '', '', '');
    row(`completed logins/s (${many?.concurrency ?? r.form.concurrency} phones, ${n(soak.logins)} logins, ${soak.errors} errors)`, n(soak.perSecond), '', '');
    row(
      `server heap (after a full GC) and RSS, from the end of the warm-up (${n(soak.afterWarmUp.fromSeconds)} s, three limits) to the end`,
      `heap ${n(warm.heapUsed / 2 ** 20, 1)} → ${n(end.heapUsed / 2 ** 20, 1)} MiB; RSS ${n(warm.rss / 2 ** 20, 1)} → ${n(end.rss / 2 ** 20, 1)} MiB`,
      `growth per minute (least squares over ${soak.afterWarmUp.samples} samples): heap ${kib(soak.growthPerMinute.heapBytes)}, RSS ${kib(soak.growthPerMinute.rssBytes)}`,
      `heap end ÷ heap then × ${soak.heapEndVsWarm}`,
    );
    row(
      'live session actors; server open files (same points)',
      `${n(warm.liveSessions)} → ${n(end.liveSessions)}; ${n(warm.fds)} → ${n(end.fds)}`,
      `${n(soak.perSecond * soak.limitSeconds * 2)} expected alive (rate × two limits: authenticated, then logged out)`,
      '',
    );
  }
  function storeText(store: { byStore: Record<string, { changes: number; writes: number; snapshots?: number }> }): string {
    return Object.entries(store.byStore)
      .map(([k, v]) => `${k} ${n(v.changes)} changes / ${n(v.writes)} writes (${n(v.snapshots ?? 0)} whole-file)`)
      .join('; ');
  }
  const table = ['| Figure | Value | Baseline (same run) | Ratio |', '|---|---|---|---|', ...rows.map((cells) => `| ${cells.join(' | ')} |`)].join('\n');
  const ops = Object.entries(c.ops)
    .map(([name, op]) => `| ${name} | ${n(op.us, 2)} | ${n(op.perSecond)} |`)
    .join('\n');
  return [
    '',
    `Run ${r.date.slice(0, 16).replace('T', ' ')} UTC with \`${r.command}\` (results: [${resultsPath}](${resultsPath})).`,
    '',
    `Machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpuModel}, ${n(m.memTotalMiB)} MiB, node ${m.node} (OpenSSL ${m.openssl}), Linux ${m.kernel}, open-file limit ${n(m.fdLimit)}, load average ${m.loadAverageAtStart} at the start.`,
    '',
    table,
    '',
    `Crypto baseline (per operation, median of three rounds): pure login crypto ${n(c.loginCryptoUs, 1)} µs = X25519 keygen + agreement + Ed25519 sign + verify + 3 × SHA-512; as implemented (the ephemeral key imported from 32 random bytes instead of generated, and the phone's public key imported) ${n(c.loginCryptoAsImplementedUs, 1)} µs; a phone with tweetnacl only ${n(c.phoneLoginCryptoTweetnaclUs / 1000, 1)} ms.`,
    '',
    '| Operation | µs | per second |',
    '|---|---|---|',
    ops,
    '',
  ].join('\n');
}
