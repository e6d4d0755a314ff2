/** The driver's handle on a load generator process (bench/generator.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Command } from '../generator.ts';
import { procCpuUs, repoRoot } from './server.ts';

export class GeneratorProcess {
  readonly #child: ChildProcess;
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`generator: ${m.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`the generator exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  static async start(init: { url: string; apikey: string; serverid: string }): Promise<GeneratorProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/generator.ts'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const g = new GeneratorProcess(child);
    await g.call({ cmd: 'init', args: init });
    return g;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** CPU time of the generator so far, µs (/proc). */
  cpuUs(): number {
    return procCpuUs(this.pid);
  }

  call<T = any>(command: Command): Promise<T> {
    const id = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, ...command });
    });
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((r) => this.#child.once('exit', r));
    this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
