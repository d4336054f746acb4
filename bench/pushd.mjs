// Benchmark of the push daemon, with sockets connected to blinkchat-pushd
// directly (not through the web server):
//
// 1. memory per idle socket at 1,000 and 10,000 sockets: the daemon's
//    resident set plus the kernel's TCP buffer memory;
// 2. fan-out of one group message to 1,000 and to 10,000 sockets: the
//    daemon's CPU time per delivery and the time from the POST until the
//    last socket has the message (median of 5 messages), next to a
//    reference: the CPU and time of a plain send() to as many loopback
//    connections (bench/sendfloor.c), which the kernel charges any server;
// 3. a chat workload: 2,000 sockets in 1,000 direct conversations, 500
//    messages per second through the API, latency from the POST to the
//    recipient's socket, and a count of lost messages;
// 4. messages written per second through the API (wrk) with the daemon
//    running and stopped, in alternating runs on one stack.
//
// bench/wsload.c, an epoll client compiled here, keeps the sockets open
// and posts the messages of 2 and 3 on a schedule, so that the client
// costs the shared two cores little. Users and conversations are made in
// SQL, and sessions are signed here with the stack's secret as the API
// signs them. Prints a table with each target and whether it is met, and
// the share of CPU time that other processes on the machine took during
// each measurement. A write run during which they took over 5 % is
// repeated, twice at most. BENCH_SECONDS sets the length of each wrk run;
// BENCH_ONLY=fanout runs parts 1 and 2 alone.
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ROOT, startStack } from '../tests/lib/stack.mjs';

const FANOUT_USERS = 100;
const SOCKETS_PER_FANOUT_USER = 100;
const SMALL_GROUP_USERS = 10; // 10 users x 100 sockets = 1,000 sockets
const FANOUT_MESSAGES = 5;
const CHAT_PAIRS = 1000;
const CHAT_RATE = 500; // messages per second
const CHAT_SECONDS = 10;
const WRITE_RUNS = 3;
const WRITE_SECONDS = Number(process.env.BENCH_SECONDS || 8);
const WRK_CONNECTIONS = 16;
// Times a write run is repeated at most when other work took over
// OTHER_WORK_WARNING of the CPU during it.
const WRITE_REPEATS = 2;
const SETTLE_MS = 2000;
const SESSION_TTL_SECONDS = 3600;

const TARGETS = {
  bytesPerSocket: 6 * 1024,
  cpuPerDeliveryUs: 5,
  fanout10kMs: 50,
  chatP99Ms: 5,
  writeRatio: 0.95,
};

const progress = (line) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Returns the nearest-rank percentile p (0..100) of values. */
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

// ---- the stack's processes and the kernel ---------------------------------

function pushdPid(stack) {
  const text = readFileSync(path.join(stack.dir, 'run', 'pushd.pid'), 'utf8');
  const pid = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid in ${stack.dir}/run/pushd.pid: '${text}'`);
  return pid;
}

function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]) * 1024;
}

/**
 * CPU time of every thread of pid in nanoseconds, from
 * /proc/PID/task/TID/schedstat (the first field is time on a CPU, in ns).
 * /proc/PID/stat counts utime and stime in clock ticks of 10 ms, too
 * coarse for one message to 1,000 sockets; it is read as a cross-check.
 */
function cpuNs(pid) {
  let total = 0n;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const fields = readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').trim().split(/\s+/);
    total += BigInt(fields[0]);
  }
  return total;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime of pid from /proc/PID/stat, in ns. */
function statCpuNs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which sits in parentheses: utime and
  // stime are fields 14 and 15 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e9) / CLOCK_TICKS;
}

/** Returns the pids in the stack's pid files: the roots of its process trees. */
function stackPids(stack) {
  const pids = [];
  const files = ['run/redis.pid', 'run/pushd.pid', 'run/web.pid', 'run/api.pid', 'pg/postmaster.pid'];
  for (const file of files) {
    let text;
    try {
      text = readFileSync(path.join(stack.dir, file), 'utf8');
    } catch {
      continue; // a stopped service
    }
    const lines = file.endsWith('postmaster.pid') ? text.split('\n').slice(0, 1) : text.split('\n');
    for (const line of lines) {
      const pid = Number(line.trim().split(/\s+/)[0]);
      if (Number.isInteger(pid) && pid > 0) pids.push(pid);
    }
  }
  return pids;
}

/**
 * Returns CPU clock ticks used so far, in four sums. busy is the user,
 * nice and system time of the whole machine (/proc/stat), total adds idle
 * and the rest. ours covers the stack, this script and its children such
 * as wsload and wrk, each with its reaped children. kernel covers the
 * kernel threads, which also do loopback work for the stack.
 */
function cpuTicks(stack) {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const processes = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The fields after the command name: state is field 3 of the line,
    // ppid field 4, utime, stime, cutime and cstime fields 14 to 17.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(after[11]) + Number(after[12]) + Number(after[13]) + Number(after[14]);
    processes.set(Number(name), { ppid: Number(after[1]), ticks });
  }
  const children = new Map();
  for (const [pid, { ppid }] of processes) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const sumTree = (roots) => {
    let ticks = 0;
    const queue = roots.filter((pid) => processes.has(pid));
    const seen = new Set(queue);
    while (queue.length > 0) {
      const pid = queue.pop();
      ticks += processes.get(pid).ticks;
      for (const child of children.get(pid) ?? []) {
        if (!seen.has(child)) {
          seen.add(child);
          queue.push(child);
        }
      }
    }
    return ticks;
  };
  return {
    busy: fields[0] + fields[1] + fields[2],
    total: fields.reduce((sum, value) => sum + value, 0),
    ours: sumTree([process.pid, ...stackPids(stack)]),
    kernel: sumTree([2]),
  };
}

/**
 * Starts watching for other work on the machine. The returned function
 * returns the share of the machine's CPU time that processes outside this
 * benchmark used since then, which skews every number measured meanwhile.
 */
function watchOtherWork(stack) {
  const before = cpuTicks(stack);
  return () => {
    const after = cpuTicks(stack);
    const other = (after.busy - before.busy) - (after.ours - before.ours) - (after.kernel - before.kernel);
    return Math.max(0, other) / Math.max(1, after.total - before.total);
  };
}

/** Pages of TCP buffer memory the kernel has charged, from /proc/net/sockstat. */
function tcpMemPages() {
  return Number(/^TCP: .* mem (\d+)$/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))[1]);
}

/**
 * Returns the kernel's slab memory of the whole machine, from /proc/meminfo. The
 * socket structures themselves (struct tcp_sock, the file, the epoll
 * entry) live there, outside the sockstat counter.
 */
function slabBytes() {
  return Number(/^Slab:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) * 1024;
}

/**
 * Sums, over the established TCP sockets matching filter (an ss filter
 * expression), the memory the kernel charges each one: its receive queue,
 * send queue and forward allocation (ss -m fields r, w and f), in bytes.
 */
function socketBufferBytes(filter) {
  const output = execFileSync('ss', ['-Htnm', 'state', 'established', filter],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  let bytes = 0;
  let sockets = 0;
  for (const match of output.matchAll(/skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+)/g)) {
    bytes += Number(match[1]) + Number(match[2]) + Number(match[3]);
    sockets += 1;
  }
  return { bytes, sockets };
}

function establishedCount(port) {
  const output = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`],
    { encoding: 'utf8', maxBuffer: 64 << 20 });
  return output.split('\n').filter((line) => line.trim() !== '').length;
}

async function waitForNoSockets(port) {
  for (let i = 0; i < 100; i++) {
    if (establishedCount(port) === 0) return;
    await sleep(100);
  }
  throw new Error(`pushd still has sockets on port ${port} 10 s after the client closed them`);
}

// ---- sessions ---------------------------------------------------------------

const base64url = (value) => Buffer.from(value).toString('base64url');

/** Signs an HS256 session token with the claims common/session.c checks. */
function signSession(secret, userId, tokenVersion) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = base64url(JSON.stringify({
    sub: String(userId),
    ver: tokenVersion,
    iat: now,
    exp: now + SESSION_TTL_SECONDS,
    jti: randomBytes(16).toString('hex'),
  }));
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

function readSecret(stack) {
  const match = /^BLINKCHAT_JWT_SECRET=(.+)$/m.exec(readFileSync(stack.configPath, 'utf8'));
  if (!match) throw new Error(`no BLINKCHAT_JWT_SECRET in ${stack.configPath}`);
  return match[1].trim();
}

// ---- the WebSocket client ---------------------------------------------------

/** Compiles bench/NAME.c to build/bench/NAME and returns its path. */
function buildTool(name) {
  const output = path.join(ROOT, 'build', 'bench', name);
  mkdirSync(path.dirname(output), { recursive: true });
  execFileSync('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', output,
    path.join(ROOT, 'bench', `${name}.c`)], { stdio: 'inherit' });
  return output;
}

// The size of the buffer sendfloor sends: the fan-out's message frames
// are about 190 bytes (a short body, no image).
const FLOOR_BYTES = 200;
const FLOOR_ROUNDS = 6;

/**
 * Runs bench/sendfloor.c: the sender's CPU per plain send() and the time
 * to send to every one of `sockets` loopback connections, the median of
 * FLOOR_ROUNDS - 1 rounds. The kernel's share of any delivery here.
 */
function sendFloor(binary, sockets) {
  const out = execFileSync(binary, [String(sockets), String(FLOOR_BYTES), String(FLOOR_ROUNDS)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const rounds = out.trim().split('\n').map((line) => line.split(' ').map(Number));
  return {
    sockets,
    cpuPerSendUs: median(rounds.map((r) => r[1] / 1000)),
    allMs: median(rounds.map((r) => r[2] / 1e6)),
  };
}

/** Drives one wsload process: each command resolves to its reply line. */
class Wsload {
  constructor(binary, port) {
    this.child = spawn(binary, ['127.0.0.1', String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = [];
    this.waiter = null;
    this.exited = false;
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.wake();
    });
    this.child.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
      this.wake();
    });
  }

  wake() {
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = null;
      resolve();
    }
  }

  async nextLine() {
    while (this.lines.length === 0) {
      if (this.exited) throw new Error(`wsload exited with ${this.exitCode}`);
      await new Promise((resolve) => { this.waiter = resolve; });
    }
    return this.lines.shift();
  }

  async command(line) {
    this.child.stdin.write(`${line}\n`);
    return this.nextLine();
  }

  /** Opens one socket per token; resolves to { live, failed }. */
  async open(tokens, file) {
    writeFileSync(file, `${tokens.join('\n')}\n`);
    const [, live, failed] = (await this.command(`open ${file}`)).split(' ').map(Number);
    return { live, failed };
  }

  /** Waits for count message frames since mark; resolves to { received, firstNs, lastNs }. */
  async wait(count, timeoutMs) {
    const [, received, firstNs, lastNs] = (await this.command(`wait ${count} ${timeoutMs}`)).split(' ');
    return { received: Number(received), firstNs: BigInt(firstNs), lastNs: BigInt(lastNs) };
  }

  /**
   * Resolves to the message frames recorded since the last dump,
   * records: [{ socket, ns, seq }], and the requests of the last post
   * command, posts: [{ seq, scheduledNs, startNs, endNs, status }].
   */
  async dump() {
    const records = [];
    const posts = [];
    this.child.stdin.write('dump\n');
    for (;;) {
      const line = await this.nextLine();
      if (line === 'end') return { records, posts };
      const fields = line.split(' ');
      if (fields[0] === 'm') {
        records.push({ socket: Number(fields[1]), ns: BigInt(fields[2]), seq: Number(fields[3]) });
      } else {
        posts.push({
          seq: Number(fields[1]),
          scheduledNs: BigInt(fields[2]),
          startNs: BigInt(fields[3]),
          endNs: BigInt(fields[4]),
          status: Number(fields[5]),
        });
      }
    }
  }

  async stats() {
    const fields = (await this.command('stats')).split(' ');
    const stats = {};
    for (let i = 0; i < fields.length; i += 2) stats[fields[i]] = Number(fields[i + 1]);
    return stats;
  }

  async quit() {
    this.child.stdin.end('quit\n');
    await new Promise((resolve) => (this.exited ? resolve() : this.child.on('exit', resolve)));
  }
}

// ---- data -------------------------------------------------------------------

/**
 * Creates the users and conversations: fan1..fan100 in two groups (the
 * first ten users, and all hundred), and chat1..chat2000 in 1,000 direct
 * conversations (chat1 with chat2, chat3 with chat4, ...). Resolves to
 * the users by name and the conversation ids.
 */
async function seed(stack) {
  await stack.psql(`
    INSERT INTO users (username, display_name, password_hash)
    SELECT 'fan' || i, 'Fan ' || i, 'not-a-login' FROM generate_series(1, ${FANOUT_USERS}) AS i;
    INSERT INTO users (username, display_name, password_hash)
    SELECT 'chat' || i, 'Chat ' || i, 'not-a-login' FROM generate_series(1, ${2 * CHAT_PAIRS}) AS i;`);
  const rows = await stack.psql(
    "SELECT id, username, token_version FROM users WHERE username ~ '^(fan|chat)[0-9]+$'");
  const users = new Map();
  for (const line of rows.split('\n')) {
    const [id, username, version] = line.split('|');
    users.set(username, { id: Number(id), version: Number(version) });
  }
  const ids = (prefix, from, to) => {
    const list = [];
    for (let i = from; i <= to; i++) list.push(users.get(`${prefix}${i}`).id);
    return list;
  };
  const group = async (members, title) => Number(await stack.psql(
    `SELECT conversation_id FROM create_conversation(${members[0]}, ARRAY[${members.slice(1).join(',')}]::bigint[], '${title}')`));
  const smallGroup = await group(ids('fan', 1, SMALL_GROUP_USERS), 'Fan-out 1000');
  const largeGroup = await group(ids('fan', 1, FANOUT_USERS), 'Fan-out 10000');

  const pairs = [];
  const values = [];
  for (let p = 0; p < CHAT_PAIRS; p++) {
    const a = users.get(`chat${2 * p + 1}`).id;
    const b = users.get(`chat${2 * p + 2}`).id;
    values.push(`(${p}, ${a}, ${b})`);
  }
  const created = await stack.psql(`
    SELECT v.p, c.conversation_id
    FROM (VALUES ${values.join(',')}) AS v(p, a, b)
    CROSS JOIN LATERAL create_conversation(v.a, ARRAY[v.b], NULL) AS c
    ORDER BY v.p`);
  for (const line of created.split('\n')) {
    const [p, conversation] = line.split('|').map(Number);
    pairs[p] = conversation;
  }
  return { users, smallGroup, largeGroup, pairs };
}

// ---- 1 and 2: memory and fan-out ----------------------------------------------

function memorySample(stack) {
  const pid = pushdPid(stack);
  const port = stack.ports.pushd;
  return {
    rss: rssBytes(pid),
    slab: slabBytes(),
    tcpPages: tcpMemPages(),
    server: socketBufferBytes(`( sport = :${port} )`),
    client: socketBufferBytes(`( dport = :${port} )`),
  };
}

/**
 * Returns the memory per socket between two samples. The sockstat counter
 * covers both ends of every connection. The server's share of it is the
 * server's part of the ss -m totals of both ends, or half when both are 0.
 */
function memoryPerSocket(before, after, sockets) {
  const rss = after.rss - before.rss;
  const kernelBoth = (after.tcpPages - before.tcpPages) * 4096;
  const serverBytes = after.server.bytes - before.server.bytes;
  const clientBytes = after.client.bytes - before.client.bytes;
  const share = serverBytes + clientBytes > 0 ? serverBytes / (serverBytes + clientBytes) : 0.5;
  const kernelServer = kernelBoth * share;
  return {
    sockets,
    rssPerSocket: rss / sockets,
    kernelBothPerSocket: kernelBoth / sockets,
    kernelServerPerSocket: kernelServer / sockets,
    serverSsPerSocket: serverBytes / sockets,
    clientSsPerSocket: clientBytes / sockets,
    share,
    slabBothPerSocket: (after.slab - before.slab) / sockets,
    total: (rss + kernelServer) / sockets,
  };
}

/**
 * Posts FANOUT_MESSAGES messages (after one that is not counted, which
 * warms the statements and the frame path) to a group whose members hold
 * `sockets` sockets, and measures each from the moment wsload writes the
 * POST.
 */
async function fanout(stack, wsload, conversation, token, sockets, planFile) {
  const samples = [];
  const otherWork = watchOtherWork(stack);
  for (let i = 0; i <= FANOUT_MESSAGES; i++) {
    const pid = pushdPid(stack);
    writeFileSync(planFile, `${i} ${conversation} ${token} ${randomUUID()}\n`);
    await wsload.command('mark');
    const cpuBefore = cpuNs(pid);
    const statBefore = statCpuNs(pid);
    const [, ok] = (await wsload.command(`post ${stack.ports.web} ${planFile} 1`)).split(' ').map(Number);
    if (ok !== 1) throw new Error(`posting to conversation ${conversation} failed; see wsload's message above`);
    const { received, lastNs } = await wsload.wait(sockets, 10_000);
    // Lets the daemon finish the write callbacks of the last sockets.
    await sleep(50);
    const cpu = Number(cpuNs(pid) - cpuBefore);
    const statCpu = statCpuNs(pid) - statBefore;
    const { posts } = await wsload.dump();
    if (i === 0) continue;
    samples.push({
      received,
      cpuPerDeliveryUs: cpu / 1000 / Math.max(received, 1),
      statCpuNs: statCpu,
      cpuNs: cpu,
      lastMs: received > 0 ? Number(lastNs - posts[0].startNs) / 1e6 : Infinity,
    });
    await sleep(200);
  }
  return {
    sockets,
    samples,
    otherShare: otherWork(),
    cpuPerDeliveryUs: median(samples.map((s) => s.cpuPerDeliveryUs)),
    lastMs: median(samples.map((s) => s.lastMs)),
    lost: samples.reduce((sum, s) => sum + (sockets - s.received), 0),
    statCpuPerDeliveryUs: samples.reduce((sum, s) => sum + s.statCpuNs, 0) / 1000
      / samples.reduce((sum, s) => sum + s.received, 0),
  };
}

async function memoryAndFanout(stack, wsload, data, tokenOf, tokenFile, planFile) {
  const fanToken = (i) => tokenOf(`fan${i}`);
  const socketsOf = (from, to) => {
    const tokens = [];
    for (let u = from; u <= to; u++) {
      for (let k = 0; k < SOCKETS_PER_FANOUT_USER; k++) tokens.push(fanToken(u));
    }
    return tokens;
  };

  await sleep(SETTLE_MS);
  const baseline = memorySample(stack);

  const small = socketsOf(1, SMALL_GROUP_USERS);
  let opened = await wsload.open(small, tokenFile);
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${small.length} sockets failed to open`);
  await sleep(SETTLE_MS);
  const memory1k = memoryPerSocket(baseline, memorySample(stack), small.length);
  progress(`${small.length} sockets open: ${kib(memory1k.total)} per socket`);
  const fanout1k = await fanout(stack, wsload, data.smallGroup, fanToken(1), small.length, planFile);
  progress(`fan-out to ${small.length}: ${fanout1k.lastMs.toFixed(1)} ms, ${fanout1k.cpuPerDeliveryUs.toFixed(2)} µs CPU per delivery`);

  const rest = socketsOf(SMALL_GROUP_USERS + 1, FANOUT_USERS);
  opened = await wsload.open(rest, tokenFile);
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${rest.length} sockets failed to open`);
  const total = small.length + rest.length;
  await sleep(SETTLE_MS);
  const memory10k = memoryPerSocket(baseline, memorySample(stack), total);
  progress(`${total} sockets open: ${kib(memory10k.total)} per socket`);
  const fanout10k = await fanout(stack, wsload, data.largeGroup, fanToken(1), total, planFile);
  progress(`fan-out to ${total}: ${fanout10k.lastMs.toFixed(1)} ms, ${fanout10k.cpuPerDeliveryUs.toFixed(2)} µs CPU per delivery`);

  await wsload.command('close');
  await waitForNoSockets(stack.ports.pushd);
  return { memory1k, memory10k, fanout1k, fanout10k };
}

// ---- 3: chat workload -------------------------------------------------------------

async function openChatSockets(wsload, tokenOf, tokenFile) {
  const tokens = [];
  for (let i = 1; i <= 2 * CHAT_PAIRS; i++) tokens.push(tokenOf(`chat${i}`));
  const opened = await wsload.open(tokens, tokenFile);
  if (opened.failed > 0) throw new Error(`${opened.failed} of ${tokens.length} chat sockets failed to open`);
}

/**
 * Posts CHAT_RATE messages per second for CHAT_SECONDS through wsload on
 * an open-loop schedule: message k is due at k / CHAT_RATE seconds
 * whatever the earlier ones are doing. It goes to pair k mod 1,000, and
 * its sender alternates between the two members. Socket i belongs to
 * chat(i+1). Latency runs from the moment wsload writes the POST to the
 * moment the recipient's socket reads the frame.
 */
async function chatWorkload(stack, wsload, data, tokenOf, planFile) {
  const total = CHAT_RATE * CHAT_SECONDS;
  const plan = [];
  const lines = [];
  for (let k = 0; k < total; k++) {
    const pair = k % CHAT_PAIRS;
    const firstSends = Math.floor(k / CHAT_PAIRS) % 2 === 0;
    const sender = firstSends ? 2 * pair + 1 : 2 * pair + 2;
    plan.push({ recipientSocket: firstSends ? 2 * pair + 1 : 2 * pair, senderSocket: sender - 1 });
    lines.push(`${k} ${data.pairs[pair]} ${tokenOf(`chat${sender}`)} ${randomUUID()}`);
  }
  writeFileSync(planFile, `${lines.join('\n')}\n`);
  await wsload.command('mark');
  await wsload.dump();

  const otherWork = watchOtherWork(stack);
  const [, ok] = (await wsload.command(`post ${stack.ports.web} ${planFile} ${CHAT_RATE}`)).split(' ').map(Number);
  await wsload.wait(2 * ok, 15_000);
  const otherShare = otherWork();
  const { records, posts } = await wsload.dump();

  const receipts = new Map(); // "socket seq" -> ns of the first receipt
  let duplicates = 0;
  for (const record of records) {
    const key = `${record.socket} ${record.seq}`;
    if (receipts.has(key)) duplicates += 1;
    else receipts.set(key, record.ns);
  }
  const latencies = [];
  const responses = [];
  const lags = [];
  let lost = 0;
  let echoesLost = 0;
  const failedStatuses = [];
  for (const post of posts) {
    const { recipientSocket, senderSocket } = plan[post.seq];
    lags.push(Number(post.startNs - post.scheduledNs) / 1e6);
    if (post.status !== 201) {
      failedStatuses.push(post.status);
      continue;
    }
    responses.push(Number(post.endNs - post.startNs) / 1e6);
    const received = receipts.get(`${recipientSocket} ${post.seq}`);
    if (received === undefined) lost += 1;
    else latencies.push(Number(received - post.startNs) / 1e6);
    if (!receipts.has(`${senderSocket} ${post.seq}`)) echoesLost += 1;
  }
  return {
    total,
    created: responses.length,
    failedPosts: total - responses.length,
    failedStatuses: [...new Set(failedStatuses)],
    lost,
    echoesLost,
    duplicates,
    lagP99: percentile(lags, 99),
    lagMax: percentile(lags, 100),
    otherShare,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
    responseP50: percentile(responses, 50),
    responseP99: percentile(responses, 99),
  };
}

// ---- 4: write throughput ------------------------------------------------------------

async function messageCount(stack) {
  return Number(await stack.psql('SELECT count(*) FROM messages'));
}

function wrk(stack, pairsFile, run, seconds = WRITE_SECONDS) {
  const output = execFileSync('wrk', ['-t2', `-c${WRK_CONNECTIONS}`, `-d${seconds}s`,
    '-s', path.join(ROOT, 'bench', 'post-messages.lua'), stack.baseUrl, '--', pairsFile, String(run)],
  { encoding: 'utf8' });
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)[1]);
  const requests = Number(/(\d+) requests in/.exec(output)[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const socketErrors = /Socket errors: (.*)/.exec(output);
  if (non2xx || socketErrors) throw new Error(`wrk saw failed requests:\n${output}`);
  return { rate, requests };
}

/**
 * Runs wrk WRITE_RUNS times in each mode, alternating: "sockets" (the
 * daemon running, the 2,000 chat sockets open and receiving every
 * message), "idle" (the daemon running with no socket) and "stopped".
 */
async function writeThroughput(stack, wsload, data, tokenOf, tokenFile, pairsFile) {
  const lines = [];
  for (let p = 0; p < CHAT_PAIRS; p++) {
    lines.push(`${data.pairs[p]} ${tokenOf(`chat${2 * p + 1}`)}`);
    lines.push(`${data.pairs[p]} ${tokenOf(`chat${2 * p + 2}`)}`);
  }
  writeFileSync(pairsFile, `${lines.join('\n')}\n`);

  const modes = ['sockets', 'idle', 'stopped'];
  const results = { sockets: [], idle: [], stopped: [] };
  const deliveryCheck = { expected: 0, received: 0 };
  const repeated = [];
  let pushdRunning = true;
  let socketsOpen = true; // left open by the chat workload
  let run = 0;

  // Posts for `seconds` and checks that each completed request wrote one
  // message and, with sockets open, that both members' sockets got it.
  const measure = async (seconds) => {
    await wsload.command('mark');
    const before = await messageCount(stack);
    const otherWork = watchOtherWork(stack);
    const { rate, requests } = wrk(stack, pairsFile, ++run, seconds);
    const otherShare = otherWork();
    const written = (await messageCount(stack)) - before;
    // wrk counts only completed requests; up to one per connection is
    // still in flight when it stops, and is written too.
    if (written < requests || written > requests + WRK_CONNECTIONS) {
      throw new Error(`wrk counted ${requests} completed requests but ${written} messages were written`);
    }
    if (socketsOpen) {
      const { received } = await wsload.wait(2 * written, 30_000);
      await wsload.dump();
      deliveryCheck.expected += 2 * written;
      deliveryCheck.received += received;
    }
    return { rate, otherShare };
  };

  // Not counted: fills PostgreSQL's caches and plans.
  await measure(Math.ceil(WRITE_SECONDS / 2));
  // Each round starts one mode later, so that every mode runs once in
  // each position and a drift over the whole run favours none of them.
  for (let round = 0; round < WRITE_RUNS; round++) {
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(round + i) % modes.length];
      if (mode !== 'sockets' && socketsOpen) {
        await wsload.command('close');
        await waitForNoSockets(stack.ports.pushd);
        socketsOpen = false;
      }
      if (mode === 'stopped' && pushdRunning) {
        await stack.stopService('pushd');
        pushdRunning = false;
      }
      if (mode !== 'stopped' && !pushdRunning) {
        await stack.startService('pushd');
        pushdRunning = true;
      }
      if (mode === 'sockets' && !socketsOpen) {
        await openChatSockets(wsload, tokenOf, tokenFile);
        socketsOpen = true;
      }
      await sleep(1000);
      let result = await measure(WRITE_SECONDS);
      // A run that shared the machine with other work is repeated: it
      // would compare this mode's writes with another mode's under a
      // different load.
      for (let repeat = 1; repeat <= WRITE_REPEATS && result.otherShare > OTHER_WORK_WARNING; repeat++) {
        progress(`writes/s with pushd ${mode}: ${result.rate.toFixed(0)}, but other processes took `
          + `${percent(result.otherShare)} of the CPU; repeating`);
        repeated.push({ mode, ...result });
        result = await measure(WRITE_SECONDS);
      }
      progress(`writes/s with pushd ${mode}: ${result.rate.toFixed(0)}`);
      results[mode].push(result);
    }
  }
  if (!pushdRunning) await stack.startService('pushd');
  const medians = Object.fromEntries(modes.map((mode) => [mode, median(results[mode].map((r) => r.rate))]));
  return { results, medians, deliveryCheck, repeated };
}

// ---- the report -------------------------------------------------------------------

const kib = (bytes) => `${(bytes / 1024).toFixed(2)} KiB`;
const percent = (share) => `${(share * 100).toFixed(1)} %`;
// Above this share of the CPU used by other processes, the report warns.
const OTHER_WORK_WARNING = 0.05;

function printReport(build, r) {
  const rows = [];
  // met is undefined for a number reported without a target.
  const row = (name, value, target, met) => rows.push([name, value, target, met === undefined ? '-' : met ? 'yes' : 'NO']);
  for (const m of [r.memory1k, r.memory10k]) {
    row(`memory per idle socket, ${m.sockets.toLocaleString('en')} sockets`, kib(m.total),
      `<= ${kib(TARGETS.bytesPerSocket)}`, m.total <= TARGETS.bytesPerSocket);
  }
  for (const f of [r.fanout1k, r.fanout10k]) {
    row(`CPU per delivery, 1 message to ${f.sockets.toLocaleString('en')}`, `${f.cpuPerDeliveryUs.toFixed(2)} µs`,
      `<= ${TARGETS.cpuPerDeliveryUs} µs`, f.cpuPerDeliveryUs <= TARGETS.cpuPerDeliveryUs);
  }
  row('POST to last socket, 1,000 sockets', `${r.fanout1k.lastMs.toFixed(1)} ms`, '-');
  row('POST to last socket, 10,000 sockets', `${r.fanout10k.lastMs.toFixed(1)} ms`, `<= ${TARGETS.fanout10kMs} ms`,
    r.fanout10k.lastMs <= TARGETS.fanout10kMs);
  const fanoutFrames = FANOUT_MESSAGES * (r.fanout1k.sockets + r.fanout10k.sockets);
  for (const f of r.floors) {
    row(`reference: plain send() to ${f.sockets.toLocaleString('en')} sockets, CPU`, `${f.cpuPerSendUs.toFixed(2)} µs`, '-');
  }
  row('reference: plain send() to 10,000 sockets, all sent', `${r.floors[1].allMs.toFixed(1)} ms`, '-');
  row('fan-out frames missing', `${r.fanout1k.lost + r.fanout10k.lost} of ${fanoutFrames}`, '0',
    r.fanout1k.lost + r.fanout10k.lost === 0);
  row(`chat ${CHAT_RATE}/s, POST to recipient p50`, `${r.chat.p50.toFixed(2)} ms`, '-');
  row(`chat ${CHAT_RATE}/s, POST to recipient p99`, `${r.chat.p99.toFixed(2)} ms`, `<= ${TARGETS.chatP99Ms} ms`,
    r.chat.p99 <= TARGETS.chatP99Ms);
  row('chat messages lost', `${r.chat.lost} of ${r.chat.created}`, '0', r.chat.lost === 0 && r.chat.failedPosts === 0);
  const w = r.writes.medians;
  row('writes/s, pushd with 2,000 sockets / stopped', `${(w.sockets / w.stopped * 100).toFixed(1)} %`,
    `>= ${TARGETS.writeRatio * 100} %`, w.sockets / w.stopped >= TARGETS.writeRatio);
  row('writes/s, pushd with no socket / stopped', `${(w.idle / w.stopped * 100).toFixed(1)} %`,
    `>= ${TARGETS.writeRatio * 100} %`, w.idle / w.stopped >= TARGETS.writeRatio);
  const d = r.writes.deliveryCheck;
  row('write runs with sockets, frames missing', `${d.expected - d.received} of ${d.expected}`, '0',
    d.received === d.expected);

  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((cells) => cells[i].length), ['measure', 'result', 'target', 'met'][i].length));
  const format = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(`blinkchat-pushd benchmark, binaries in ${build}/, ${os.cpus().length} CPUs, ${new Date().toISOString().slice(0, 10)}`);
  console.log(format(['measure', 'result', 'target', 'met']));
  for (const cells of rows) console.log(format(cells));
  const shares = [r.fanout1k.otherShare, r.fanout10k.otherShare, r.chat.otherShare,
    ...Object.values(r.writes.results).flat().map((v) => v.otherShare)];
  const worst = Math.max(...shares);
  if (worst > OTHER_WORK_WARNING) {
    console.log(`WARNING: processes outside this benchmark used up to ${percent(worst)} of the CPU `
      + 'during a measurement, so some numbers are skewed; see the details.');
  }

  console.log('\nDetails');
  for (const m of [r.memory1k, r.memory10k]) {
    console.log(`  ${m.sockets} sockets: pushd RSS ${kib(m.rssPerSocket)}/socket; sockstat TCP mem ${kib(m.kernelBothPerSocket)}/socket `
      + `for both ends, server share ${(m.share * 100).toFixed(0)} % = ${kib(m.kernelServerPerSocket)} `
      + `(ss -m r+w+f: server ${kib(m.serverSsPerSocket)}, client ${kib(m.clientSsPerSocket)}); `
      + `not counted above: kernel slab ${kib(m.slabBothPerSocket)}/socket for both ends`);
  }
  for (const f of [r.fanout1k, r.fanout10k]) {
    console.log(`  fan-out to ${f.sockets}: per message CPU µs/delivery `
      + `${f.samples.map((s) => s.cpuPerDeliveryUs.toFixed(2)).join(', ')}; last socket ms `
      + `${f.samples.map((s) => s.lastMs.toFixed(1)).join(', ')}; frames missing ${f.lost}; `
      + `/proc/PID/stat over all ${FANOUT_MESSAGES}: ${f.statCpuPerDeliveryUs.toFixed(2)} µs/delivery (10 ms ticks); `
      + `other processes' CPU share ${percent(f.otherShare)}`);
  }
  const c = r.chat;
  console.log(`  chat: ${c.created} of ${c.total} POSTs returned 201${c.failedPosts ? ` (other statuses: ${c.failedStatuses.join(', ')})` : ''}; `
    + `recipient max ${c.max.toFixed(2)} ms; lost ${c.lost}, sender echoes lost ${c.echoesLost}, duplicates ${c.duplicates}; `
    + `POST response p50 ${c.responseP50.toFixed(2)} ms p99 ${c.responseP99.toFixed(2)} ms; `
    + `POST start behind schedule p99 ${c.lagP99.toFixed(2)} ms, max ${c.lagMax.toFixed(2)} ms; `
    + `other processes' CPU share ${percent(c.otherShare)}`);
  for (const mode of ['sockets', 'idle', 'stopped']) {
    const runs = r.writes.results[mode];
    console.log(`  writes/s, pushd ${mode}: median ${w[mode].toFixed(0)} (runs ${runs.map((v) => v.rate.toFixed(0)).join(', ')}; `
      + `other processes' CPU share ${runs.map((v) => percent(v.otherShare)).join(', ')})`);
  }
  for (const run of r.writes.repeated) {
    console.log(`  repeated a write run with pushd ${run.mode}: ${run.rate.toFixed(0)} writes/s while other `
      + `processes took ${percent(run.otherShare)} of the CPU`);
  }
  console.log(`  wsload: ${r.clientStats.errors} socket errors in the whole run`);
}

// ---- main ----------------------------------------------------------------------------

const build = process.env.BLINKCHAT_TEST_BUILD || 'build';
process.env.BLINKCHAT_TEST_BUILD = build;
const wsloadBinary = buildTool('wsload');
const floorBinary = buildTool('sendfloor');
const stack = await startStack({ apiProcs: 4 });
let wsload = null;
try {
  progress(`stack started in ${stack.dir}`);
  const data = await seed(stack);
  progress('users and conversations created');
  const secret = readSecret(stack);
  const tokens = new Map();
  const tokenOf = (username) => {
    if (!tokens.has(username)) {
      const user = data.users.get(username);
      tokens.set(username, signSession(secret, user.id, user.version));
    }
    return tokens.get(username);
  };
  const tokenFile = path.join(stack.dir, 'bench-tokens.txt');
  const pairsFile = path.join(stack.dir, 'bench-pairs.txt');
  const planFile = path.join(stack.dir, 'bench-posts.txt');
  wsload = new Wsload(wsloadBinary, stack.ports.pushd);

  const fan = await memoryAndFanout(stack, wsload, data, tokenOf, tokenFile, planFile);
  fan.floors = [sendFloor(floorBinary, 1000), sendFloor(floorBinary, 10000)];
  progress(`plain send() to 1000 and 10000 sockets: ${fan.floors.map((f) => `${f.cpuPerSendUs.toFixed(2)} µs`).join(', ')}`);
  if (process.env.BENCH_ONLY === 'fanout') {
    // Parts 1 and 2 alone, for profiling the daemon's fan-out.
    for (const f of [fan.fanout1k, fan.fanout10k]) {
      console.log(`fan-out to ${f.sockets}: ${f.cpuPerDeliveryUs.toFixed(2)} µs CPU per delivery, `
        + `last socket ${f.lastMs.toFixed(1)} ms, frames missing ${f.lost}`);
    }
    for (const f of fan.floors) {
      console.log(`plain send() to ${f.sockets}: ${f.cpuPerSendUs.toFixed(2)} µs CPU per send, all sent in ${f.allMs.toFixed(1)} ms`);
    }
  } else {
    await runRest(fan, { data, tokenOf, tokenFile, pairsFile, planFile });
  }
} finally {
  if (wsload) await wsload.quit();
  await stack.stop();
}

/** Parts 3 and 4, then the report. */
async function runRest(fan, { data, tokenOf, tokenFile, pairsFile, planFile }) {
  await openChatSockets(wsload, tokenOf, tokenFile);
  await sleep(SETTLE_MS);
  progress(`chat workload: ${CHAT_RATE} messages/s for ${CHAT_SECONDS} s`);
  const chat = await chatWorkload(stack, wsload, data, tokenOf, planFile);
  progress(`chat workload: p50 ${chat.p50.toFixed(2)} ms, p99 ${chat.p99.toFixed(2)} ms, lost ${chat.lost}`);
  const writes = await writeThroughput(stack, wsload, data, tokenOf, tokenFile, pairsFile);
  const clientStats = await wsload.stats();
  printReport(build, { ...fan, chat, writes, clientStats });
}
