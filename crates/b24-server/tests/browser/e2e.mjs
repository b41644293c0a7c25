// End-to-end: a tiny browser application, served here on app.localhost:APP_PORT, installed and
// run inside the local portal page of b24-server in headless Chromium, with b24jssdk's frame mode;
// then a fixture that speaks BX24.js's wire format. Driven by tests/api/frame_browser.rs, which
// starts the server, creates the application and passes everything in the environment:
// PORTAL, LAUNCH, APP_PORT, APP_ID, WEBHOOK, ACTIVITY, DEAL1, DEAL2, CHROMIUM.
import http from 'node:http';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = process.env;
const APP = `http://app.localhost:${env.APP_PORT}`;
const sdk = readFileSync(new URL('./node_modules/@bitrix24/b24jssdk/dist/umd/index.min.js', import.meta.url));

function step(text) {
  console.log(`[e2e] ${text}`);
}

// --- the application -------------------------------------------------------------------------
const installEvents = [];
const launches = [];
const reports = [];

const installPage = `<!doctype html><meta charset=utf-8><title>install</title>
<script src="/sdk.js"></script>
<script>
(async () => {
  const $b24 = await B24Js.initializeB24Frame();
  const call = (method, params) => $b24.actions.v2.call.make({ method, params });
  await call('placement.bind', { PLACEMENT: 'CRM_DEAL_DETAIL_TAB', HANDLER: location.origin + '/bx24', TITLE: 'BX24 wire' });
  await call('event.bind', { event: 'ONAPPINSTALL', handler: 'http://127.0.0.1:${env.APP_PORT}/event' });
  await fetch('/report', { method: 'POST', body: JSON.stringify({ installMode: $b24.isInstallMode }) });
  await $b24.installFinish();
})().catch((e) => fetch('/report', { method: 'POST', body: JSON.stringify({ failure: String(e && e.message || e) }) }));
</script>`;

const handlerPage = `<!doctype html><meta charset=utf-8><title>handler</title>
<script src="/sdk.js"></script>
<script>
const result = (r) => { const d = r && typeof r.getData === 'function' ? r.getData() : r; return d && d.result; };
(async () => {
  const $b24 = await B24Js.initializeB24Frame();
  window.$b24 = $b24;
  const call = (method, params) => $b24.actions.v2.call.make({ method, params });
  window.report = { install: $b24.isInstallMode, admin: $b24.auth.isAdmin, name: window.name };
  if (!$b24.auth.isAdmin) {
    window.ready = true;
    return;
  }
  await $b24.parent.setTitle('Frame test');
  await $b24.parent.resizeWindow(640, 480);
  await $b24.options.appSet('color', 'red');
  window.report.option = result(await call('app.option.get', { option: 'color' }));
  window.report.deleted = result(await call('crm.activity.binding.delete',
    { activityId: ${env.ACTIVITY}, entityTypeId: 2, entityId: ${env.DEAL2} }));
  window.ready = true;
})().catch((e) => { window.failure = String(e && e.message || e); });

// After the parent page expired the token: the SDK gets 401 expired_token, sends refreshAuth,
// retries once.
window.afterExpire = async () => result(await $b24.actions.v2.call.make({ method: 'app.info' })).INSTALLED;

// A message from another origin (a frame of 127.0.0.1:APP_PORT inside the application), with
// the right APP_SID: the portal answers nothing.
window.foreign = () => {
  const inner = document.createElement('iframe');
  inner.src = 'http://127.0.0.1:${env.APP_PORT}/foreign#' + $b24.getAppSid() + '|' + $b24.getTargetOrigin();
  document.body.appendChild(inner);
};

// A raw command with a callback: its answer, or 'silent' after 1.5 s.
window.ask = (command, params) => new Promise((resolve) => {
  const callback = 'ask' + Math.random().toString(36).slice(2);
  window.addEventListener('message', (e) => {
    if (typeof e.data === 'string' && e.data.startsWith(callback + ':')) resolve(JSON.parse(e.data.slice(callback.length + 1)));
  });
  parent.postMessage(command + ':' + (params ? JSON.stringify(params) : '') + ':' + callback + ':' + $b24.getAppSid(), $b24.getTargetOrigin());
  setTimeout(() => resolve('silent'), 1500);
});

// A message with a made-up APP_SID: the portal answers nothing.
window.lie = () => new Promise((resolve) => {
  const callback = 'liar' + Date.now();
  window.addEventListener('message', (e) => {
    if (typeof e.data === 'string' && e.data.startsWith(callback + ':')) resolve('answered');
  });
  parent.postMessage('getInitData:' + callback + ':0123456789abcdef0123456789abcdef', $b24.getTargetOrigin());
  setTimeout(() => resolve('silent'), 1500);
});
</script>`;

// BX24.js's wire format, written from its documented behaviour (BX24.js itself is not shipped):
// window.name = DOMAIN|PROTOCOL|APP_SID, `COMMAND:PARAMS:CALLBACK:APP_SID` with empty PARAMS
// kept, 32-character callbacks, and REST as text/plain form bodies to /rest/<method>.json.
const bx24Page = `<!doctype html><meta charset=utf-8><title>bx24</title>
<script>
const [domain, protocol, sid] = window.name.split('|');
const origin = (protocol === '1' ? 'https://' : 'http://') + domain;
const callbacks = {};
window.addEventListener('message', (e) => {
  if (e.origin !== origin || typeof e.data !== 'string') return;
  const at = e.data.indexOf(':');
  const cb = callbacks[e.data.slice(0, at)];
  if (cb) cb(e.data.slice(at + 1) === '' ? undefined : JSON.parse(e.data.slice(at + 1)));
});
function send(command, params, cb) {
  let id = '';
  if (cb) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => (b % 36).toString(36)).join('');
    callbacks[id] = cb;
  }
  parent.postMessage(command + ':' + (params ? JSON.stringify(params) : '') + ':' + id + ':' + sid, origin);
}
send('resizeWindow', { width: '100%', height: 300 });
send('getInitData', null, (data) => {
  window.init = data;
  const xhr = new XMLHttpRequest();
  xhr.open('POST', origin + data.PATH + '/crm.activity.binding.list.json');
  xhr.onload = () => { window.bx24 = { status: xhr.status, body: JSON.parse(xhr.responseText) }; };
  xhr.send('auth=' + encodeURIComponent(data.AUTH_ID) + '&activityId=${env.ACTIVITY}');
});
</script>`;

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, APP);
  let body = '';
  for await (const chunk of req) body += chunk;
  const html = (text) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(text); };
  if (url.pathname === '/sdk.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(sdk);
  } else if (url.pathname === '/foreign') {
    html(`<script>const [sid, origin] = location.hash.slice(1).split('|');
      top.postMessage('getInitData::foreign0000000000000000000000000:' + sid, origin);</script>`);
  } else if (url.pathname === '/report') {
    reports.push(JSON.parse(body));
    res.end('ok');
  } else if (url.pathname === '/event') {
    installEvents.push(new URLSearchParams(body));
    res.end('ok');
  } else if (['/install', '/handler', '/bx24'].includes(url.pathname)) {
    launches.push({ path: url.pathname, method: req.method, query: url.searchParams, form: new URLSearchParams(body) });
    html(url.pathname === '/install' ? installPage : url.pathname === '/handler' ? handlerPage : bx24Page);
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve) => server.listen(Number(env.APP_PORT), resolve));

async function until(what, check, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function webhook(method, params) {
  const response = await fetch(env.WEBHOOK + method + '.json', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params),
  });
  return (await response.json()).result;
}

// --- the run -------------------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox'] });
const hostLog = [];
const consoleLog = [];
let failed = false;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => { (m.text().startsWith('[b24host]') ? hostLog : consoleLog).push(m.text()); });
  page.on('pageerror', (e) => consoleLog.push('page error: ' + e.message));
  const restRequests = [];
  page.on('request', (r) => { if (r.url().includes('/rest/')) restRequests.push(r); });
  const frameOf = async (path) => until(`a frame at ${path}`, () => page.frames().find((f) => new URL(f.url(), APP).pathname === path && f.url().startsWith(APP)));
  const frameValue = async (frame, name) => until(name, () => frame.evaluate((n) => window.failure ? { failure: window.failure } : window[n], name));

  step('sign in with the one-time launch URL; the install page opens for the administrator');
  await page.goto(env.LAUNCH);
  const installed = await until('the install page', () => reports[0]);
  assert.equal(installed.failure, undefined, installed.failure);
  assert.equal(installed.installMode, true);
  assert.equal(launches[0].path, '/install');

  step('installFinish reloads the page into the handler; ONAPPINSTALL arrives');
  const handler = await frameOf('/handler');
  const event = await until('ONAPPINSTALL', () => installEvents[0]);
  assert.equal(event.get('event'), 'ONAPPINSTALL');
  assert.equal(event.get('data[INSTALLED]'), 'Y');
  assert.ok(event.get('auth[access_token]') && event.get('auth[refresh_token]'));
  assert.equal(await webhook('app.info', {}).then(() => 'ok'), 'ok');

  step('the handler ran: title, size, option, binding.delete through the frame');
  const report = await frameValue(handler, 'ready') && await handler.evaluate(() => window.report);
  assert.equal(report.failure, undefined, report.failure);
  assert.equal(report.install, false);
  assert.equal(report.admin, true);
  assert.equal(report.option, 'red');
  assert.equal(report.deleted, true);
  const host = new URL(env.PORTAL).host;
  assert.match(report.name, new RegExp(`^${host.replace('.', '\\.')}\\|0\\|[0-9a-f]{32}$`));
  assert.equal(await page.title(), 'Frame test');
  assert.deepEqual(await page.$eval('#b24host-frame', (e) => [e.offsetWidth, e.offsetHeight]), [640, 480]);
  const bindings = await webhook('crm.activity.binding.list', { activityId: Number(env.ACTIVITY) });
  assert.deepEqual(bindings.map((b) => Number(b.entityId)), [Number(env.DEAL1)]);

  step('the handler got the portal launch POST');
  const launch = launches.filter((l) => l.path === '/handler').at(-1);
  assert.equal(launch.method, 'POST');
  assert.deepEqual([...launch.query.keys()], ['DOMAIN', 'PROTOCOL', 'LANG', 'APP_SID']);
  assert.equal(launch.query.get('DOMAIN'), host);
  for (const name of ['AUTH_ID', 'AUTH_EXPIRES', 'REFRESH_ID', 'member_id', 'status', 'PLACEMENT', 'PLACEMENT_OPTIONS',
    'SERVER_ENDPOINT', 'APPLICATION_TOKEN', 'APPLICATION_SCOPE']) {
    assert.ok(launch.form.has(name), `${name} missing from the launch POST`);
  }
  assert.equal(launch.form.get('PLACEMENT'), 'DEFAULT');

  step('an expired token is refreshed through refreshAuth and the call retried');
  await page.click('#b24host-expire');
  await until('the expiry', () => hostLog.some((l) => l.includes('expired')));
  assert.equal(await handler.evaluate(() => window.afterExpire()), true);
  assert.ok(hostLog.some((l) => l.includes('refreshAuth')), hostLog.join('\n'));

  step('a message with a wrong APP_SID gets no answer, and the page says so');
  assert.equal(await handler.evaluate(() => window.lie()), 'silent');
  assert.ok(hostLog.some((l) => l.includes('wrong APP_SID')), hostLog.join('\n'));

  step('getInterface, openPath, and silence for an unknown command');
  const iface = await handler.evaluate(() => window.ask('getInterface'));
  for (const command of ['getInitData', 'setInstall', 'refreshAuth', 'setInstallFinish', 'resizeWindow', 'setTitle',
    'setAppOption', 'setUserOption', 'reloadWindow', 'closeApplication', 'getInterface', 'openPath']) {
    assert.ok(iface.command.includes(command), command);
  }
  assert.deepEqual(await handler.evaluate(() => window.ask('openPath', { path: '/crm/deal/details/1/' })), { result: 'close' });
  assert.deepEqual(await handler.evaluate(() => window.ask('openPath', { path: '/bitrix/admin/' })),
    { result: 'error', errorCode: 'PATH_NOT_AVAILABLE' });
  assert.equal(await handler.evaluate(() => window.ask('noSuchCommand', { a: 1 })), 'silent');
  assert.ok(hostLog.some((l) => l.includes('unknown command noSuchCommand')), hostLog.join('\n'));

  step('selectUser asks in a dialog and answers the picked user');
  const picked = handler.evaluate(() => window.$b24.dialog.selectUser());
  await page.waitForSelector('#b24host-select-user[open]');
  await page.fill('#b24host-user-id', '1');
  await page.click('#b24host-select-user button[value=ok]');
  const user = await picked;
  assert.equal(user.id, '1', JSON.stringify(user));
  assert.equal(user.name, 'Administrator');

  step('a message from another origin gets no answer, and the page says so');
  await handler.evaluate(() => window.foreign());
  await until('the origin warning', () => hostLog.some((l) => l.includes('a message from http://127.0.0.1:')));

  step('no token in the page text or its log');
  const token = launch.form.get('AUTH_ID');
  const text = await page.evaluate(() => document.body.innerText);
  assert.ok(!text.includes(token) && !hostLog.join('\n').includes(token));
  assert.equal(await page.$('input[name=AUTH_ID]'), null);

  step('reopened as a non-administrator: IS_ADMIN false, setAppOption unanswered');
  await page.click('#b24host-as-user');
  await until('the page as a user', () => page.url().includes('b24host_as=user'));
  const userFrame = await frameOf('/handler');
  const asUser = await frameValue(userFrame, 'ready');
  assert.equal(asUser.failure, undefined, asUser.failure);
  assert.equal(await userFrame.evaluate(() => window.report.admin), false);
  await userFrame.evaluate(() => window.$b24.options.appSet('color', 'blue'));
  await until('the non-administrator warning', () => hostLog.some((l) => l.includes('setAppOption from a non-administrator')));
  assert.equal((await webhook('crm.activity.binding.list', { activityId: Number(env.ACTIVITY) })).length, 1);

  step('the BX24.js wire format, in the placement the install page bound');
  const options = encodeURIComponent(JSON.stringify({ ID: env.DEAL1 }));
  await page.goto(`${env.PORTAL}/marketplace/placement/${env.APP_ID}/CRM_DEAL_DETAIL_TAB/?options=${options}`);
  const bx24 = await frameOf('/bx24');
  const answer = await frameValue(bx24, 'bx24');
  assert.equal(answer.status, 200, JSON.stringify(answer));
  assert.deepEqual(answer.body.result.map((b) => Number(b.entityId)), [Number(env.DEAL1)]);
  const init = await bx24.evaluate(() => window.init);
  assert.equal(init.PLACEMENT, 'CRM_DEAL_DETAIL_TAB');
  assert.deepEqual(init.PLACEMENT_OPTIONS, { ID: env.DEAL1 });
  assert.equal(init.PATH, '/rest');
  const list = restRequests.find((r) => r.url().endsWith('/rest/crm.activity.binding.list.json'));
  assert.ok(list, 'the BX24 fixture called /rest/crm.activity.binding.list.json');
  assert.match(list.headers()['content-type'], /^text\/plain/);
  assert.ok(list.postData().startsWith('auth='));
  assert.equal(await page.$eval('#b24host-frame', (e) => e.offsetHeight), 300);
  step('all passed');
} catch (e) {
  failed = true;
  console.error(e);
  for (const page of browser.contexts().flatMap((c) => c.pages())) {
    for (const frame of page.frames()) {
      const about = await frame.evaluate(() => ({ name: window.name, sdk: typeof B24Js })).catch((x) => String(x));
      console.error('frame ' + frame.url() + ' ' + JSON.stringify(about));
    }
  }
  console.error('host log:\n' + hostLog.join('\n'));
  console.error('console:\n' + consoleLog.join('\n'));
  console.error('application requests: ' + launches.map((l) => l.method + ' ' + l.path).join(', '));
  console.error('reports: ' + JSON.stringify(reports));
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
