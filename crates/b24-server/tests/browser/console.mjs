// End-to-end: the web console in headless Chromium. Driven by tests/api/console_browser.rs, which
// starts the real `b24-server serve` binary and passes in the environment: CONSOLE (the sign-in
// link the server printed), WEBHOOK (the printed webhook URL), ACTIVITY (an activity bound to
// two deals), CHROMIUM, SHOTS (where screenshots go).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = process.env;
const base = new URL(env.CONSOLE).origin;
mkdirSync(env.SHOTS, { recursive: true });

function step(text) {
  console.log(`[console] ${text}`);
}

async function rest(method, params) {
  const response = await fetch(env.WEBHOOK + method, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: response.status, body: await response.json() };
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox'] });
const pageErrors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => d.accept());
  const shot = (name) => page.screenshot({ path: `${env.SHOTS}/${name}.png`, fullPage: true });
  const heading = () => page.locator('h1').textContent();

  step('a browser opening the server root is sent to the console, which asks to sign in');
  await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/_b24/ui/');
  assert.equal(await heading(), 'Sign in to the console');

  step('the printed link signs in; the session cookie is HttpOnly and SameSite=Strict');
  await page.goto(env.CONSOLE);
  assert.equal(new URL(page.url()).pathname, '/_b24/ui/');
  assert.equal(await heading(), 'Overview');
  const cookie = (await context.cookies()).find((c) => c.name === 'b24_console');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('b24_console')), false);
  await shot('overview');

  step('keyboard: the first Tab reaches the skip link, which moves focus to the content');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');

  step('a call through the webhook appears on the open Requests page without a reload');
  await page.click('nav >> text=Requests');
  assert.equal(await heading(), 'Requests');
  const adds = page.locator('#requests tbody tr', { hasText: 'crm.item.add' });
  const before = await adds.count();
  const added = await rest('crm.item.add', { entityTypeId: 2, fields: { title: 'Console call' } });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  await page.waitForFunction((n) => [...document.querySelectorAll('#requests tbody tr')]
    .filter((tr) => tr.textContent.includes('crm.item.add')).length > n, before, { timeout: 10000 });
  await page.locator('#requests tbody tr', { hasText: 'crm.item.add' }).first().locator('a').click();
  assert.match(await heading(), /^Call #\d+$/);
  assert.ok((await page.locator('pre[aria-label="The parameters"]').textContent()).includes('Console call'));
  assert.ok(await page.locator('pre[aria-label="The time block"]').isVisible());
  await shot('request');

  step('the filter by error shows only failed calls');
  await page.goto(base + '/_b24/ui/requests?error=ANY');
  assert.equal(await page.locator('#requests tbody tr', { hasText: 'crm.item.add' }).count(), 0);

  step('a fault added from a preset makes the next call fail');
  await page.click('nav >> text=Faults and clock');
  await page.check('#preset-operating-limit');
  await page.fill('#fault-method', 'crm.item.list');
  await page.click('text=Add the rule');
  assert.ok((await page.locator('.notice').textContent()).includes('rule was added'));
  await shot('faults');
  const failed = await rest('crm.item.list', { entityTypeId: 2 });
  assert.equal(failed.status, 429);
  assert.equal(failed.body.error, 'OPERATION_TIME_LIMIT');
  const next = await rest('crm.item.list', { entityTypeId: 2 });
  assert.equal(next.status, 200, 'the rule fired once');
  await page.goto(base + '/_b24/ui/requests?error=OPERATION_TIME_LIMIT');
  await page.locator('#requests tbody tr', { hasText: 'crm.item.list' }).first().waitFor();
  await page.goto(base + '/_b24/ui/requests');
  await shot('requests');

  step('the clock moves by an hour');
  await page.click('nav >> text=Faults and clock');
  await page.click('text=Advance 1 hour');
  assert.ok((await page.locator('.notice').textContent()).includes('clock moved'));

  step('the Data page lists the deals; an activity page draws its bindings with the owner marked');
  await page.click('nav >> text=Data');
  assert.ok(await page.locator('main table', { hasText: 'Console call' }).isVisible());
  await shot('data');
  await page.click(`main a[href="/_b24/ui/activity/${env.ACTIVITY}"]`);
  assert.equal(await heading(), `Activity ${env.ACTIVITY}`);
  const graph = page.locator('svg[data-testid="binding-graph"]');
  assert.ok(await graph.isVisible());
  assert.equal(await graph.locator('g.node.item').count(), 2);
  assert.equal(await graph.locator('g.node.item.owner').count(), 1);
  assert.equal(await graph.locator('.owner-label').textContent(), 'owner');
  await shot('activity');
  await graph.locator('g.node.item.owner').click();
  assert.match(await heading(), /^Deal \d+: /);

  step('the Events, Access and Snapshots pages render');
  for (const [name, title] of [['Events', 'Events'], ['Access', 'Access'], ['Snapshots', 'Snapshots']]) {
    await page.click(`nav >> text=${name}`);
    assert.equal(await heading(), title);
    await shot(name.toLowerCase());
  }
  await page.fill('#snap-name', 'before-reset');
  await page.click('text=Save a snapshot');
  assert.ok((await page.locator('main table', { hasText: 'before-reset' })).isVisible());

  step('a new webhook is shown once; revoking it stops it');
  await page.click('nav >> text=Access');
  await page.click('text=Create webhook');
  const url = await page.inputValue('#secret');
  assert.match(url, /\/rest\/1\/[^/]+\/$/);
  const works = await fetch(url + 'server.time');
  assert.equal(works.status, 200);
  await page.click('text=Back to Access');
  assert.equal((await page.content()).includes(url), false, 'the Access page does not show it again');

  step('the console works at 390 px wide without sideways scrolling');
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['', 'requests', 'data', 'faults']) {
    await page.goto(base + '/_b24/ui/' + path);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${path || 'overview'} is ${width}px wide at 390px`);
  }
  await page.goto(base + '/_b24/ui/requests');
  await shot('requests-390');
  await page.goto(base + '/_b24/ui/');
  await shot('overview-390');
  await page.setViewportSize({ width: 1280, height: 900 });

  step('reset (with confirmation) empties the Data page');
  await page.goto(base + '/_b24/ui/');
  await page.check('#confirm-reset');
  await page.click('text=Reset the portal');
  assert.ok((await page.locator('.notice').textContent()).includes('was reset'));
  await page.click('nav >> text=Data');
  assert.equal(await page.locator('p.empty', { hasText: 'No items.' }).count(), 1);
  assert.equal(await page.locator('p.empty', { hasText: 'No activities.' }).count(), 1);
  await shot('data-empty');

  step('a restored snapshot brings the data back');
  await page.click('nav >> text=Snapshots');
  await page.click('text=Restore before-reset');
  await page.click('nav >> text=Data');
  assert.ok(await page.locator('main table', { hasText: 'Console call' }).isVisible());

  assert.deepEqual(pageErrors, []);
  step('all passed');
} finally {
  await browser.close();
}
