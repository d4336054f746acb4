// Benchmark of the conversation cache: GET /api/conversations for a user
// with 200 conversations, with BLINKCHAT_CACHE on and off, measured in the
// same run on two stacks started side by side. Prints requests per second
// (median of three alternating runs of wrk) and the PostgreSQL statements
// each request costs, counted from pg_stat_database.
import { execFileSync } from 'node:child_process';
import { startStack } from '../tests/lib/stack.mjs';
import { signup } from '../tests/lib/http.mjs';

const CONVERSATIONS = 200;
const RUNS = 3;
const SECONDS = Number(process.env.BENCH_SECONDS || 8);

async function seed(stack) {
  const client = await signup(stack, 'benchowner');
  const owner = client.user.id;
  // Partners, conversations and three messages in each, written through the
  // same SQL functions the API uses so every derived column is consistent.
  await stack.psql(`
    INSERT INTO users (username, display_name, password_hash)
    SELECT 'partner' || i, 'Partner ' || i, 'not-a-login' FROM generate_series(1, ${CONVERSATIONS}) AS i;
    SELECT create_conversation(${owner}, ARRAY[u.id], NULL) FROM users u WHERE u.username LIKE 'partner%';
    SELECT post_message(cm.conversation_id, s.sender, gen_random_uuid(), 'message ' || s.n, NULL)
    FROM conversation_members cm
    CROSS JOIN LATERAL (SELECT n, CASE WHEN n = 2 THEN ${owner} ELSE
        (SELECT user_id FROM conversation_members o WHERE o.conversation_id = cm.conversation_id
          AND o.user_id <> ${owner}) END AS sender FROM generate_series(1, 3) AS n) AS s
    WHERE cm.user_id = ${owner};`);
  return client;
}

function wrk(stack, cookie) {
  const output = execFileSync('wrk', ['-t2', '-c16', `-d${SECONDS}s`, '--latency',
    '-H', `Cookie: blinkchat_session=${cookie}`, `${stack.baseUrl}/api/conversations?limit=30`],
  { encoding: 'utf8' });
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)[1]);
  const requests = Number(/(\d+) requests in/.exec(output)[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} failed responses:\n${output}`);
  return { rate, requests };
}

async function statementCount(stack) {
  return Number(await stack.psql(
    "SELECT xact_commit FROM pg_stat_database WHERE datname = 'blinkchat'"));
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const build = process.env.BLINKCHAT_TEST_BUILD || 'build';
process.env.BLINKCHAT_TEST_BUILD = build;
const stacks = {};
const results = { on: [], off: [] };
try {
  for (const mode of ['on', 'off']) {
    const stack = await startStack({ pushd: false, apiProcs: 4, env: { BLINKCHAT_CACHE: mode } });
    const client = await seed(stack);
    stacks[mode] = { stack, client };
    wrk(stack, client.cookie); // warm up: fills the cache and the plans
  }
  for (let run = 0; run < RUNS; run++) {
    for (const mode of ['on', 'off']) {
      const { stack, client } = stacks[mode];
      const before = await statementCount(stack);
      const { rate, requests } = wrk(stack, client.cookie);
      // pg_stat_database is updated when a backend reports, at most every
      // 500 ms (PostgreSQL 15), so wait for the counters to settle.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const statements = (await statementCount(stack)) - before - 1;
      results[mode].push({ rate, perRequest: statements / requests });
    }
  }
} finally {
  for (const { stack } of Object.values(stacks)) await stack.stop();
}

const on = median(results.on.map((r) => r.rate));
const off = median(results.off.map((r) => r.rate));
console.log(`GET /api/conversations?limit=30, user with ${CONVERSATIONS} conversations,`);
console.log(`wrk -t2 -c16 -d${SECONDS}s, ${RUNS} alternating runs, binaries in ${build}/`);
console.log('cache  req/s (median)  runs                   PostgreSQL statements per request');
for (const [mode, median_] of [['on', on], ['off', off]]) {
  const runs = results[mode].map((r) => r.rate.toFixed(0)).join(', ');
  const perRequest = median(results[mode].map((r) => r.perRequest)).toFixed(2);
  console.log(`${mode.padEnd(6)} ${median_.toFixed(0).padStart(15)}  ${runs.padEnd(22)} ${perRequest}`);
}
console.log(`ratio on/off: ${(on / off).toFixed(2)}`);
