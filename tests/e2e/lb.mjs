// The real parts of a multi-instance deployment for the end-to-end tests: a private, throwaway
// PostgreSQL cluster (as examples/collector/tests/common/pg.rs starts it for the Rust suites)
// and Debian's nginx as the load balancer, both unprivileged on their own 127.0.0.1 ports with
// every file in their own temp directory.
//
// Owns: initdb/pg_ctl/psql of its cluster, nginx's config and process. Must never: touch a
// cluster or an nginx it did not start, listen anywhere but 127.0.0.1, or leave a process or
// directory behind (a watchdog cleans up if the test process dies first).
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PG_BIN = process.env.OMNITRAIL_PG_BIN ?? "/usr/lib/postgresql/15/bin";
export const NGINX = "/usr/sbin/nginx";

/** Why the cluster test cannot run here, or null (scripts/setup.sh installs both). */
export function missingLbParts() {
  const missing = [join(PG_BIN, "initdb"), join(PG_BIN, "pg_ctl"), NGINX].filter((p) => !existsSync(p));
  return missing.length ? `missing ${missing.join(", ")} (scripts/setup.sh installs postgresql and nginx)` : null;
}

export async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

const isRoot = () => process.getuid?.() === 0;

/** Removes `dir` (and stops what `stopCmd` names) once this process has exited. */
function watchdog(stopCmd, dir) {
  const child = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCmd} >/dev/null 2>&1; rm -rf '${dir}'`], {
    detached: true, stdio: "ignore",
  });
  child.unref();
  return child;
}

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60000 });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.stderr || r.error || ""}`);
  return r.stdout;
}

/**
 * initdb + pg_ctl start of a private cluster (as `nobody` when we are root: PostgreSQL refuses
 * root) and one database; resolves with { port, url(db), psql(sql[, db]) (in `database` by default), stop() }.
 */
export async function startPostgres({ database = "omnitrail" } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "omnitrail-e2e-pg-"));
  const asUser = isRoot() ? ["runuser", "-u", "nobody", "--"] : [];
  if (asUser.length) run("chown", ["nobody:nogroup", dir], "chown");
  const pg = (prog, args, what) => asUser.length ? run(asUser[0], [...asUser.slice(1), join(PG_BIN, prog), ...args], what) : run(join(PG_BIN, prog), args, what);
  const port = await freePort();
  const data = join(dir, "data");
  const stopCmd = `${asUser.join(" ")} ${join(PG_BIN, "pg_ctl")} -D '${data}' -m immediate -w stop`;
  const dog = watchdog(stopCmd, dir);
  try {
    pg("initdb", ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-D", data], "initdb");
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=32MB`;
    pg("pg_ctl", ["-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "-t", "60", "start"], "pg_ctl start");
  } catch (e) {
    spawnSync("sh", ["-c", stopCmd]);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${e.message}\n${existsSync(join(dir, "log")) ? readFileSync(join(dir, "log"), "utf8") : ""}`);
  }
  const psql = (sql, db = database) =>
    run(join(PG_BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], "psql").trim();
  psql(`CREATE DATABASE ${database}`, "postgres");
  return {
    port,
    dir,
    url: (db = database) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    psql,
    stop: () => {
      spawnSync("sh", ["-c", stopCmd], { timeout: 30000 });
      rmSync(dir, { recursive: true, force: true });
      try { process.kill(-dog.pid); } catch { /* already gone */ }
    },
  };
}

/** The nginx config that was tested in front of several collectors (also in the collector README). */
export function nginxConfig({ dir, port, upstreams }) {
  return `# omnitrail: nginx as the load balancer in front of several collectors (round robin).
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream omnitrail_collectors {
${upstreams.map((u) => `    server ${u};`).join("\n")}
    keepalive 32;             # idle connections kept to the collectors (per worker)
    keepalive_timeout 4s;     # below the collector's --keep-alive-timeout-ms (5 s)
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 2m;  # the collector has its own limits (500 KB batches, 1 MB carts)
    location / {
      proxy_pass http://omnitrail_collectors;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`;
}

/** nginx on 127.0.0.1:PORT round-robin over `upstreams` ("host:port"); resolves with { url, port, accessLog(), stop() }. */
export async function startNginx({ upstreams }) {
  const dir = mkdtempSync(join(tmpdir(), "omnitrail-e2e-nginx-"));
  chmodSync(dir, 0o755); // nginx's workers run as `nobody` when the master is root
  const port = await freePort();
  writeFileSync(join(dir, "nginx.conf"), nginxConfig({ dir, port, upstreams }));
  // -e: the error log from the start (before the config is read, nginx would open its default).
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const dog = watchdog(`kill -TERM ${child.pid}`, dir);
  const exited = new Promise((ok) => child.once("exit", ok));
  const end = Date.now() + 10000;
  for (;;) {
    const up = await new Promise((ok) => {
      const s = connect(port, "127.0.0.1", () => { s.destroy(); ok(true); });
      s.on("error", () => ok(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > end) {
      child.kill("SIGKILL");
      const log = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : "";
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    accessLog: () => readFileSync(join(dir, "access.log"), "utf8"),
    errorLog: () => readFileSync(join(dir, "error.log"), "utf8"),
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      try { process.kill(-dog.pid); } catch { /* already gone */ }
    },
  };
}
