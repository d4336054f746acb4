import { startStack } from '../lib/stack.mjs';
import { launchBrowser, signUp, startDirectChat, messageRow, conversationItem, messageBodies, scrollMessagesTo, waitUntil } from './helpers.mjs';
const stack = await startStack();
const browser = await launchBrowser();
let n = 0;
async function user(name) {
  n += 1;
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await ctx.newPage();
  const username = `${name}_${n}`;
  page.on('console', (m) => console.log(`[${username}] ${m.type()} ${m.text()}`));
  page.on('response', (r) => { if (r.url().includes('/api/') && r.status() >= 400) console.log(`[${username}] ${r.request().method()} ${r.url()} -> ${r.status()}`); });
  page.on('websocket', (ws) => { ws.on('framereceived', (f) => { if (!String(f.payload).includes('"pong"')) console.log(`[${username}] ws<- ${String(f.payload).slice(0, 140)}`); }); ws.on('framesent', (f) => console.log(`[${username}] ws-> ${String(f.payload).slice(0, 100)}`)); ws.on('close', () => console.log(`[${username}] ws closed`)); });
  await page.goto(stack.baseUrl + '/');
  await signUp(page, username, 'password1234', name);
  const me = await page.evaluate(() => fetch('/api/me').then((r) => r.json()));
  return { ctx, page, username, user: me.user };
}
try {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const a = await user('Alice');
    const b = await user('Bob');
    await startDirectChat(a.page, b.username);
    await conversationItem(b.page, 'Alice').waitFor();
    const id = Number((await a.page.evaluate(() => location.hash)).split('/')[2]);
    await stack.psql(`SELECT post_message(${id}, CASE WHEN g % 2 = 0 THEN ${a.user.id} ELSE ${b.user.id} END, gen_random_uuid(), 'History ' || g, NULL) FROM generate_series(1, 200) AS g`);
    const page = b.page;
    console.log('--- reload');
    await page.reload();
    await conversationItem(page, 'Alice').click();
    await messageRow(page, 'History 200').waitFor();
    let failed = false;
    for (let round = 0; round < 15; round += 1) {
      const count = await page.locator('.message-row').count();
      if (count >= 200) break;
      await scrollMessagesTo(page, 0);
      const anchorText = await page.locator('.message-row .message-body').first().textContent();
      const topBefore = await messageRow(page, anchorText).evaluate((e) => e.getBoundingClientRect().top);
      const after = await waitUntil(() => page.locator('.message-row').count(), (v) => v > count, { timeoutMs: 5000 });
      const topAfter = await messageRow(page, anchorText).evaluate((e) => e.getBoundingClientRect().top).catch((e) => e.message);
      console.log('round', round, count, after, anchorText, topBefore, topAfter);
      if (topAfter !== topBefore) failed = true;
    }
    const bodies = await messageBodies(page);
    console.log('attempt', attempt, 'rows', bodies.length, 'failed', failed, 'status', await page.locator('.history-status').textContent());
    await a.ctx.close();
    await b.ctx.close();
    if (failed || bodies.length !== 200) break;
  }
} finally {
  await browser.close();
  await stack.stop().catch((e) => console.log('stop:', e.message.slice(0, 300)));
}
