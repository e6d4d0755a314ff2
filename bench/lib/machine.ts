/** The machine the bench runs on, and how busy it is (other processes share it). */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fdLimit } from './server.ts';

export interface Machine {
  nproc: number;
  cpuModel: string;
  memTotalMiB: number;
  node: string;
  openssl: string;
  kernel: string;
  /** soft limit of open files (the idle scenario's ceiling) */
  fdLimit: number;
  /** 1-minute load average when the run started */
  loadAverageAtStart: number;
}

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    memTotalMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    openssl: process.versions.openssl ?? '',
    kernel: os.release(),
    fdLimit: fdLimit(),
    loadAverageAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

/** Busy CPU time of the whole machine so far, µs (all cores, from /proc/stat). */
export function machineBusyUs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busyTicks = user! + nice! + system! + irq! + softirq!;
  return (busyTicks / 100) * 1e6; // USER_HZ is 100 on Linux
}
