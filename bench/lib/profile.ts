/** A summary of a V8 .cpuprofile (node --cpu-prof): where the server's CPU time went. */
import { readFileSync } from 'node:fs';
import { repoRoot } from './server.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** ms sampled in total, and not idle */
  totalMs: number;
  busyMs: number;
  /** self time by area (node:crypto, tweetnacl, xstate, JSON, GC…), ms and share of busy time */
  byArea: Array<{ area: string; ms: number; share: number }>;
  /** the functions with the most self time */
  top: Array<{ fn: string; where: string; ms: number; share: number }>;
  /** the functions with the most time spent in them and what they called (recursion counted once) */
  inclusive: Array<{ fn: string; where: string; ms: number; share: number }>;
}

/** The area a frame belongs to, from its URL (package or source folder). */
function areaOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8 / native (program)';
  if (!url) return fn === 'stringify' || fn === 'parse' ? `JSON.${fn}` : `native: ${fn || '(anonymous)'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:'))
    return url
      .replace(/^node:internal\//, 'node:')
      .split('/')
      .slice(0, 2)
      .join('/');
  const local = url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '');
  return local.split('/').slice(0, 2).join('/');
}

/** A summary of one profile, or of several summed (the processes of one server: a primary and its workers). */
export function summarizeProfile(files: string | string[], top = 25): ProfileSummary {
  const byArea = new Map<string, number>();
  const byFn = new Map<string, { fn: string; where: string; us: number }>();
  const inclusive = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const file of typeof files === 'string' ? [files] : files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const [t, i] = addProfile(profile, byArea, byFn, inclusive);
    total += t;
    idle += i;
  }
  const busy = total - idle;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const share = (us: number) => Math.round((us / busy) * 1000) / 1000;
  return {
    totalMs: ms(total),
    busyMs: ms(busy),
    byArea: [...byArea]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([area, us]) => ({ area, ms: ms(us), share: share(us) })),
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, ms: ms(e.us), share: share(e.us) })),
    inclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top * 2)
      .map((e) => ({ fn: e.fn, where: e.where, ms: ms(e.us), share: share(e.us) })),
  };
}

/** Adds one profile's self time by area and function, and its inclusive time by function; returns its total and idle µs. */
function addProfile(
  profile: CpuProfile,
  byArea: Map<string, number>,
  byFn: Map<string, { fn: string; where: string; us: number }>,
  inclusive: Map<string, { fn: string; where: string; us: number }>,
): [total: number, idle: number] {
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (!us) continue;
    total += us;
    const { functionName, url } = node.callFrame;
    const area = areaOf(url, functionName);
    if (area === 'idle') {
      idle += us;
      continue;
    }
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const where = whereOf(node);
    const key = `${functionName}@${where}`;
    const entry = byFn.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    byFn.set(key, entry);
  }

  // Inclusive time: each node's self time plus its subtree's, summed per function over the nodes
  // that have no caller of the same function above them.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const subtree = (id: number, open: Map<string, number>): number => {
    const node = byId.get(id)!;
    const key = `${node.callFrame.functionName}@${whereOf(node)}`;
    open.set(key, (open.get(key) ?? 0) + 1);
    let us = node.callFrame.functionName === '(idle)' ? 0 : (self.get(id) ?? 0);
    for (const child of node.children ?? []) us += subtree(child, open);
    const depth = open.get(key)! - 1;
    if (depth === 0) open.delete(key);
    else open.set(key, depth);
    if (depth === 0 && us > 0 && key !== '(root)@(native)') {
      const entry = inclusive.get(key) ?? { fn: node.callFrame.functionName || '(anonymous)', where: whereOf(node), us: 0 };
      entry.us += us;
      inclusive.set(key, entry);
    }
    return us;
  };
  subtree(profile.nodes[0]!.id, new Map());
  return [total, idle];
}

function whereOf(node: ProfileNode): string {
  const { url, lineNumber } = node.callFrame;
  return url ? `${url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '')}:${lineNumber + 1}` : '(native)';
}
