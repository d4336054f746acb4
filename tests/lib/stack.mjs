// Starts a real BlinkChat stack for a test file: PostgreSQL, Redis, the push
// daemon and lighttpd (or nginx) with the FastCGI API, on free loopback
// ports in a temporary folder, through deploy/blinkchat-stack.
//
//   const stack = await startStack();
//   ... drive stack.baseUrl over HTTP and stack.wsUrl over WebSocket ...
//   await stack.stop();   // throws if a sanitizer reported an error
//
// The programs come from build/asan (override with BLINKCHAT_TEST_BUILD),
// so memory errors, undefined behaviour and leaks fail the test that
// caused them. BLINKCHAT_TEST_KEEP=1 keeps the folder after stop().

import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, cpSync, mkdirSync } from 'node:fs';
import { chmod, mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STACK_COMMAND = path.join(ROOT, 'deploy', 'blinkchat-stack');
const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
const SERVICES = ['postgres', 'redis', 'pushd', 'web'];
const COMMAND_TIMEOUT_MS = 90_000;

// Lines that AddressSanitizer, UndefinedBehaviorSanitizer and
// LeakSanitizer print at the start of a report.
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'runtime error:', 'ERROR: LeakSanitizer'];

// Stacks not stopped yet, stopped synchronously when the process exits.
const liveStacks = new Set();
let exitHandlersInstalled = false;

// Ports already handed out by this process, never handed out twice, so two
// stacks of one test file do not race for the same port.
const usedPorts = new Set();
const START_ATTEMPTS = 3;

/** Finds `count` distinct free TCP ports on 127.0.0.1 that this process has not used. */
export async function freePorts(count) {
  // Every probe stays open until the end, so the kernel does not offer its
  // port twice within one call.
  const servers = [];
  const ports = [];
  try {
    while (ports.length < count) {
      if (servers.length >= count + 100) throw new Error(`found only ${ports.length} unused free ports`);
      const server = net.createServer();
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      servers.push(server);
      const { port } = server.address();
      if (!usedPorts.has(port)) {
        usedPorts.add(port);
        ports.push(port);
      }
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

function runStackCommand(args, env) {
  return new Promise((resolve, reject) => {
    execFile(STACK_COMMAND, args, { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (error) {
          const reason = error.killed ? `timed out after ${COMMAND_TIMEOUT_MS / 1000} s` : `exited with ${error.code}`;
          reject(new Error(`blinkchat-stack ${args.join(' ')} ${reason}:\n${output}`));
        } else {
          resolve(output);
        }
      });
  });
}

/** Returns the environment without the caller's own BLINKCHAT_ settings. */
function baseEnvironment() {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('BLINKCHAT_')) env[name] = value;
  }
  return env;
}

/** Returns every sanitizer report in the log files, with some context. */
function findSanitizerReports(logDir) {
  const reports = [];
  if (!existsSync(logDir)) return reports;
  for (const file of readdirSync(logDir).sort()) {
    let lines;
    try {
      lines = readFileSync(path.join(logDir, file), 'utf8').split('\n');
    } catch {
      continue;
    }
    const first = lines.findIndex((line) => SANITIZER_MARKERS.some((marker) => line.includes(marker)));
    if (first === -1) continue;
    const count = lines.filter((line) => SANITIZER_MARKERS.some((marker) => line.includes(marker))).length;
    const excerpt = lines.slice(Math.max(0, first - 2), first + 40).join('\n');
    reports.push(`${file}: ${count} sanitizer report line(s); the first:\n${excerpt}`);
  }
  return reports;
}

function installExitHandlers() {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', stopAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      stopAllSync();
      // The handler ran once and is gone, so the signal now does what it
      // would have done without it.
      process.kill(process.pid, signal);
    });
  }
}

function stopAllSync() {
  for (const stack of liveStacks) stack.stopSync();
}

/**
 * Starts deploy/blinkchat-stack on free ports in a new temporary folder.
 *
 * options.webServer  'lighttpd' (default) or 'nginx'
 * options.pushd      false to leave the push daemon stopped
 * options.env        extra settings (BLINKCHAT_... keys of common/cfg.c)
 * options.apiProcs   number of FastCGI API processes (default 2)
 */
export async function startStack(options = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(options);
    } catch (error) {
      // Another program may take a port between freePorts() and the bind.
      if (attempt >= START_ATTEMPTS || !/already in use/i.test(error.message)) throw error;
    }
  }
}

async function startStackOnce(options) {
  const { webServer = 'lighttpd', pushd = true, env: extraEnv = {}, apiProcs = 2 } = options;
  const [webPort, pgPort, redisPort, pushdPort] = await freePorts(4);
  // Mode 755 so that the unprivileged PostgreSQL user can enter the folder
  // when the tests run as root.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'blinkchat-test-'));
  await chmod(dir, 0o755);

  const baseUrl = `http://127.0.0.1:${webPort}`;
  const build = process.env.BLINKCHAT_TEST_BUILD
    ? path.resolve(process.env.BLINKCHAT_TEST_BUILD)
    : path.join(ROOT, 'build', 'asan');
  const settings = {
    BLINKCHAT_VAR: dir,
    BLINKCHAT_PORT: String(webPort),
    BLINKCHAT_PG_PORT: String(pgPort),
    BLINKCHAT_REDIS_PORT: String(redisPort),
    BLINKCHAT_PUSHD_PORT: String(pushdPort),
    BLINKCHAT_WEB_SERVER: webServer,
    BLINKCHAT_BUILD: build,
    BLINKCHAT_API_PROCS: String(apiProcs),
    BLINKCHAT_PUBLIC_ORIGIN: baseUrl,
    BLINKCHAT_PG_FAST: '1',
    BLINKCHAT_PASSWORD_MEMLIMIT_KIB: '8192',
    BLINKCHAT_PASSWORD_OPSLIMIT: '1',
    ASAN_OPTIONS: 'abort_on_error=0:detect_leaks=1:halt_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    ...extraEnv,
  };
  const env = { ...baseEnvironment(), ...settings };
  const logDir = path.join(dir, 'log');
  let stopped = false;
  let watchdog = null;

  const stack = {
    baseUrl,
    wsUrl: `ws://127.0.0.1:${webPort}/ws`,
    pushdUrl: `ws://127.0.0.1:${pushdPort}/ws`,
    origin: settings.BLINKCHAT_PUBLIC_ORIGIN,
    dir,
    configPath: path.join(dir, 'blinkchat.conf'),
    ports: { web: webPort, postgres: pgPort, redis: redisPort, pushd: pushdPort },
    env: settings,
    webServer,

    /** Runs one SQL command as the blinkchat role; resolves to psql's unaligned output. */
    psql(sql) {
      return new Promise((resolve, reject) => {
        execFile('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(pgPort),
          '-U', 'blinkchat', '-d', 'blinkchat', '-c', sql], { env, timeout: 30_000 },
        (error, stdout, stderr) => {
          if (error) reject(new Error(`psql failed on ${JSON.stringify(sql)}: ${stderr.trim() || error.message}`));
          else resolve(stdout.replace(/\n$/, ''));
        });
      });
    },

    /** Runs one redis-cli command; resolves to its raw output. */
    redis(...args) {
      return new Promise((resolve, reject) => {
        execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(redisPort), '--raw', ...args.map(String)],
          { env, timeout: 30_000 }, (error, stdout, stderr) => {
            if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
            else resolve(stdout.replace(/\n$/, ''));
          });
      });
    },

    startService(name) { return serviceCommand('start', name); },
    stopService(name) { return serviceCommand('stop', name); },
    /** Kills the service and its child processes with SIGKILL. */
    killService(name) { return serviceCommand('kill', name); },
    async restartService(name) {
      await serviceCommand('stop', name);
      await serviceCommand('start', name);
    },

    /** Returns the log of a service (postgres, redis, pushd, web, api), or ''. */
    log(name) {
      try {
        return readFileSync(path.join(logDir, `${name}.log`), 'utf8');
      } catch {
        return '';
      }
    },

    /**
     * Stops every service and removes the folder. Throws if stopping failed
     * or if any log contains a sanitizer report. The logs are then copied
     * to tests/artifacts/.
     */
    async stop() {
      if (stopped) return;
      stopped = true;
      liveStacks.delete(stack);
      let stopError = null;
      try {
        await runStackCommand(['stop'], env);
      } catch (error) {
        stopError = error;
        spawnSync(STACK_COMMAND, ['stop'], { env, stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
      }
      const reports = findSanitizerReports(logDir);
      finish(stopError !== null || reports.length > 0);
      if (reports.length > 0) {
        throw new Error(`sanitizer reports in the logs of the stack in ${dir}:\n\n${reports.join('\n\n')}`);
      }
      if (stopError) throw stopError;
    },

    /** Stops everything without waiting on the event loop; for exit handlers. */
    stopSync() {
      if (stopped) return;
      stopped = true;
      liveStacks.delete(stack);
      spawnSync(STACK_COMMAND, ['stop'], { env, stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
      finish(findSanitizerReports(logDir).length > 0);
    },
  };

  async function serviceCommand(action, name) {
    if (!SERVICES.includes(name)) {
      throw new Error(`unknown service '${name}'; the services are ${SERVICES.join(', ')}`);
    }
    return runStackCommand([`${action}-${name}`], env);
  }

  function finish(keepLogs) {
    if (watchdog) {
      try { process.kill(watchdog.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    if (keepLogs) saveLogs();
    if (process.env.BLINKCHAT_TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }

  function saveLogs() {
    try {
      const target = path.join(ARTIFACTS, path.basename(dir));
      mkdirSync(ARTIFACTS, { recursive: true });
      cpSync(logDir, target, { recursive: true });
    } catch {
      // The error message quotes the reports anyway.
    }
  }

  liveStacks.add(stack);
  installExitHandlers();
  // If this process dies without running its exit handlers (SIGKILL, a
  // crash), the watchdog stops the stack once this process is gone.
  watchdog = spawn('/bin/sh', ['-c',
    'while kill -0 "$0" 2>/dev/null; do sleep 1; done; "$1" stop >/dev/null 2>&1; [ "$3" = 1 ] || rm -rf "$2"',
    String(process.pid), STACK_COMMAND, dir, process.env.BLINKCHAT_TEST_KEEP === '1' ? '1' : '0'],
  { env, detached: true, stdio: 'ignore' });
  watchdog.unref();

  try {
    if (pushd) {
      await runStackCommand(['start'], env);
    } else {
      await runStackCommand(['start-postgres'], env);
      await runStackCommand(['start-redis'], env);
      await runStackCommand(['start-web'], env);
    }
  } catch (error) {
    try {
      await stack.stop();
    } catch (stopError) {
      error.message += `\n\nand stopping it failed too: ${stopError.message}`;
    }
    throw error;
  }
  return stack;
}
