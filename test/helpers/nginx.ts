/**
 * A real nginx (Debian's package) for the tests that put the NS behind one: the binary, and a
 * start that wraps a site file of deploy/ in a whole nginx.conf of a temp prefix (no root, no
 * system paths, `daemon off` so the test owns the process).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** The nginx binary, or undefined when it is not installed. */
export const nginxBin: string | undefined = (() => {
  for (const bin of ['/usr/sbin/nginx', 'nginx']) {
    try {
      execFileSync(bin, ['-v'], { stdio: 'ignore' });
      return bin;
    } catch {}
  }
  return undefined;
})();

export interface Nginx {
  process: ChildProcess;
  /** what nginx has written to stderr so far */
  stderr(): string;
  stop(): void;
}

/** Starts nginx in `prefix` with `site` (a server block, already given its ports and upstreams). */
export function startNginx(prefix: string, site: string): Nginx {
  if (!nginxBin) throw new Error('nginx is not installed (apt-get install -y nginx)');
  writeFileSync(path.join(prefix, 'site.conf'), site);
  writeFileSync(
    path.join(prefix, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  include ${prefix}/site.conf;
}
`,
  );
  const child = spawn(nginxBin, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  return { process: child, stderr: () => err, stop: () => child.kill('SIGQUIT') };
}
