// The workplace in a real browser (Debian's chromium through playwright-core), driven by
// crates/hotline/tests/desk.rs, which runs Hotline, the agent's SIP phone (baresip) and the
// caller (SIPp). The pages reach Hotline through a TCP relay of this script's, which cuts
// every connection for a while to take the network away mid-contact. This script prints `CALL` when the caller should dial, progress as `STEP …`,
// and `RESULT {json}` at the end; it exits non-zero on the first failed expectation.
//
// Environment: HOTLINE_URL, HOTLINE_PASSWORD, HOTLINE_CUSTOMER (the caller's customer name),
// HOTLINE_EARLIER (the subject of the customer's earlier e-mail),
// HOTLINE_SCREENSHOTS (a folder), CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

const upstream = new URL(process.env.HOTLINE_URL);
const password = process.env.HOTLINE_PASSWORD;
const customer = process.env.HOTLINE_CUSTOMER;
const earlier = process.env.HOTLINE_EARLIER;
const shots = process.env.HOTLINE_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

// The relay: while `cut`, every connection is dropped and new ones refused.
let cut = false;
let excusedUntil = 0; // failures while the network is away (and just after) are expected
const sockets = new Set();
const relay = net.createServer((c) => {
  if (cut) { c.destroy(); return; }
  const u = net.connect(Number(upstream.port), upstream.hostname);
  const close = () => { c.destroy(); u.destroy(); sockets.delete(c); sockets.delete(u); };
  sockets.add(c); sockets.add(u);
  c.pipe(u); u.pipe(c);
  for (const s of [c, u]) { s.on('error', close); s.on('close', close); }
});
await new Promise((ok) => relay.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${relay.address().port}`;
function network(up) {
  cut = !up;
  excusedUntil = up ? Date.now() + 3_000 : Infinity;
  if (!up) for (const s of sockets) s.destroy();
}
const excused = () => Date.now() < excusedUntil;

const problems = [];
const step = (s) => console.log(`STEP ${s}`);
function expect(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  timeout: 60_000,
});

/** A browser context for one person, on a 1366×768 laptop screen, watched for failures. */
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'ru-RU' });
  const page = await context.newPage();
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${name}: ${r.request().method()} ${r.url()} answered ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    // A reload aborts what was in flight (the recording's stream, a poll): not an answer.
    const why = r.failure() ? r.failure().errorText : '';
    if (!/ERR_ABORTED/.test(why) && !excused()) problems.push(`${name}: ${r.method()} ${r.url()} failed: ${why}`);
  });
  page.on('console', (m) => { if (m.type() === 'error' && !excused()) problems.push(`${name}: console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.setDefaultTimeout(15_000);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Goes to a section of the page (a hash route) as a click on its link would. */
async function nav(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

async function setLang(page, l) {
  await page.locator(`.lang button:text-is("${l.toUpperCase()}")`).first().click();
}

async function login(page, user) {
  await page.goto(base + '/');
  await page.fill('#login-user', user);
  await page.fill('#login-pass', password);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('header.top');
}

/** Polls `probe` (the wallboard redraws its tiles every second) until it answers non-null. */
async function until(probe, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const result = {};
try {
  // ---- the log-in page, both languages -----------------------------------------------------
  const agent = await person('agent');
  await agent.goto(base + '/');
  await agent.waitForSelector('form.login');
  await setLang(agent, 'en');
  await shot(agent, 'login-en');
  await setLang(agent, 'ru');
  await shot(agent, 'login-ru');
  step('login page');

  // A wrong password is refused on the page (the one 401 this test expects).
  await agent.fill('#login-user', 'agent1');
  await agent.fill('#login-pass', 'not the password');
  await agent.click('form.login button[type=submit]');
  await agent.waitForSelector('form.login .error:not([hidden])');
  // The browser also logs the refused request on the console.
  problems.splice(0, problems.length, ...problems.filter((p) => !/auth\/login answered 401|status of 401/.test(p)));

  // ---- the agent logs in and goes ready ----------------------------------------------------------
  await login(agent, 'agent1');
  await agent.waitForSelector('.statebar');
  await agent.click('#go-ready');
  await agent.waitForSelector('#my-state[data-state="available"]');
  step('agent ready');

  // ---- the supervisor's wallboard --------------------------------------------------------------
  const sup = await person('supervisor');
  // The wallboard is pushed over the live stream: the page asks for it once, not every second.
  let wallboardGets = 0;
  sup.on('request', (r) => { if (new URL(r.url()).pathname === '/api/v1/wallboard') wallboardGets += 1; });
  await login(sup, 'supervisor');
  await nav(sup, '#supervisor/wallboard');
  await sup.waitForSelector('#wb-agents tr');
  const agentRow = sup.locator('#wb-agents tr', { hasText: '1001' });
  await agentRow.locator('[data-state="available"]').waitFor();
  step('wallboard shows the agent ready');

  // The agent steps away for a moment; the call arrives meanwhile and waits.
  await agent.selectOption('#nr-reason', 'break');
  await agent.click('#go-not-ready');
  await agent.waitForSelector('#my-state[data-state="not_ready"]');
  console.log('CALL');
  const waiting = sup.locator('.tile', { hasText: 'Cards' }).locator('[data-figure="waiting"]');
  result.wallboard_waiting = await until(async () => {
    const n = Number(await waiting.textContent());
    return n >= 1 ? n : null;
  }, 45_000, 'the wallboard shows the waiting call');
  await shot(sup, 'wallboard-waiting-ru');
  step('wallboard shows the waiting call');

  // ---- the agent comes back: the offer pops the card ------------------------------------------
  await agent.click('#go-ready');
  const contact = agent.locator('.contact[data-shown-at]');
  await contact.waitFor({ timeout: 30_000 });
  const offeredAt = Number(await contact.getAttribute('data-offered-at'));
  const shownAt = Number(await contact.getAttribute('data-shown-at'));
  result.pop_ms = shownAt - offeredAt;
  expect(offeredAt > 0 && result.pop_ms < 1000, `the card on screen within 1 s of the offer (took ${result.pop_ms} ms)`);
  const name = await agent.locator('.card-name').first().textContent();
  expect(name === customer, `the caller's card (${customer}), not ${name}`);
  await agent.locator('.card .vip').first().waitFor();
  await agent.locator('.card dd', { hasText: 'K-1001' }).first().waitFor();
  await agent.locator('.timeline .subject', { hasText: earlier }).first().waitFor();
  await agent.locator('.ivr li', { hasText: '2' }).first().waitFor();
  await agent.locator('.script .md').first().waitFor();
  step(`card on screen ${result.pop_ms} ms after the offer`);

  // The phone answers by itself: talking; the wallboard shows the agent busy.
  await agent.waitForSelector('#contact-status.s-talking', { timeout: 20_000 });
  await agentRow.locator('[data-state="busy"]').waitFor({ timeout: 10_000 });
  await shot(sup, 'wallboard-busy-ru');
  // Once per time the view is drawn (log-in lands on it, the test navigates to it); polling
  // over these 20-odd seconds would have made twenty.
  expect(wallboardGets <= 4, `the wallboard is pushed, not polled (${wallboardGets} GETs)`);
  result.wallboard_gets = wallboardGets;
  await shot(agent, 'desk-contact-ru');
  step('talking; the wallboard shows the agent busy');

  // ---- notes typed, the page reloaded mid-contact: nothing lost --------------------------------
  const note = `Клиент просит перевыпустить карту ${Date.now()}`;
  await agent.fill('#contact-notes', note);
  // A change to the card is half-typed too.
  await agent.click('.card.customer .card-head button.small');
  await agent.fill('#card-edit-notes', 'Предпочитает звонки после 18:00');
  await agent.reload();
  await agent.waitForSelector('.contact[data-shown-at]');
  const kept = await agent.inputValue('#contact-notes');
  expect(kept === note, `the typed note survives a reload (got "${kept}")`);
  const cardKept = await agent.inputValue('#card-edit-notes');
  expect(cardKept === 'Предпочитает звонки после 18:00', `the card being edited survives a reload (got "${cardKept}")`);
  await agent.click('.card.customer form.edit button[type=button]');
  expect((await agent.locator('.card-name').first().textContent()) === customer, 'the card is back after the reload');
  step('reload kept the contact and the draft');

  // ---- the network goes away mid-contact: the agent sees it, types on, nothing is lost ----------
  network(false);
  await agent.waitForSelector('body.offline #banner-lost', { timeout: 15_000 });
  const more = `${note}. Связь пропадала`;
  await agent.fill('#contact-notes', more);
  await shot(agent, 'desk-connection-lost-ru');
  network(true);
  await agent.waitForSelector('body:not(.offline)', { timeout: 15_000 });
  expect((await agent.inputValue('#contact-notes')) === more, 'the note typed while offline is still there');
  step('connection lost and back; the draft kept');

  // Disposition and save; the customer's timeline shows the note.
  const dispositionValue = await agent.locator('#contact-disposition option', { hasText: 'Information given' }).getAttribute('value');
  await agent.selectOption('#contact-disposition', dispositionValue);
  await agent.click('#save-outcome');
  await agent.locator('.timeline .note', { hasText: more }).waitFor();
  await agent.locator('.timeline .disposition', { hasText: 'Information given' }).first().waitFor();
  step('note and disposition saved; the timeline shows them');

  // ---- call controls: hold (the caller hears music) and back --------------------------------------
  await agent.click('#call-hold');
  await agent.waitForSelector('#held-state', { timeout: 10_000 });
  await shot(agent, 'desk-hold-ru');
  expect(!(await agent.textContent('#call-controls')).includes('null'), 'no left-out control is written as "null"');
  await agent.click('#call-hold');
  await agent.waitForSelector('#held-state', { state: 'detached', timeout: 10_000 });
  step('held and resumed from the desk');

  // ---- the supervisor listens in from the live call's page, whispers, and leaves ---------------------
  const live = await agent.locator('.contact[data-interaction]').first().getAttribute('data-interaction');
  // The call's timeline, as the supervisor's page shows it when opened.
  const timelineHas = (kind) => until(async () => {
    await nav(sup, '#supervisor/wallboard');
    await nav(sup, `#supervisor/interactions/${live}`);
    await sup.locator('#interaction-detail .events').waitFor({ timeout: 5_000 });
    const kinds = await sup.locator('#interaction-detail .events strong').allTextContents();
    return kinds.includes(kind) ? true : null;
  }, 30_000, `the call's timeline shows ${kind}`);
  await nav(sup, `#supervisor/interactions/${live}`);
  const monitor = sup.locator('#interaction-detail .monitor');
  await monitor.waitFor();
  await monitor.locator('[data-monitor="listen"]').click();
  await monitor.locator('[role=status]', { hasText: 'Прослушивание' }).waitFor();
  await timelineHas('call.monitor_started');
  await shot(sup, 'monitor-ru');
  await sup.locator('#interaction-detail .monitor [data-monitor="whisper"]').click();
  await timelineHas('call.monitor_mode');
  await sup.locator('#interaction-detail .monitor [data-monitor="stop"]').click();
  await timelineHas('call.monitor_ended');
  step('the supervisor listened, whispered and left');

  // ---- a callback promised during the call, booked from the contact ---------------------------------
  await agent.fill('#cb-note', 'Перезвонить с ответом по заявке');
  await agent.click('#cb-book');
  await agent.locator('.tab[data-tab="callbacks"]', { hasText: '(1)' }).waitFor();
  step('callback booked from the contact');

  // ---- English, then the caller hangs up: wrap-up, finished by the agent -------------------------
  await setLang(agent, 'en');
  await agent.waitForSelector('.contact[data-shown-at]');
  await shot(agent, 'desk-contact-en');
  await agent.waitForSelector('#my-state[data-state="wrap_up"]', { timeout: 60_000 });
  await shot(agent, 'desk-wrap-up-en');
  await agent.click('#finish-wrap');
  await agent.waitForSelector('#my-state[data-state="available"]');
  step('wrap-up finished');
  await agent.click('.tab[data-tab="search"]');
  await agent.fill('#search-q', customer.split(' ')[0]);
  await agent.press('#search-q', 'Enter');
  await agent.locator('.results li', { hasText: customer }).first().waitFor();
  await shot(agent, 'desk-search-en');
  await setLang(agent, 'ru');
  await agent.waitForSelector('#search-q');
  await shot(agent, 'desk-search-ru');

  // ---- my callbacks: listed with the customer, both languages, then cancelled -----------------------
  await agent.click('.tab[data-tab="callbacks"]');
  const booked = () => agent.locator('#my-callbacks tr[data-callback]', { hasText: 'Перезвонить с ответом' });
  await booked().waitFor();
  expect((await booked().textContent()).includes(customer), 'the callback shows its customer');
  await shot(agent, 'desk-callbacks-ru');
  await setLang(agent, 'en');
  await booked().waitFor();
  await shot(agent, 'desk-callbacks-en');
  await booked().locator('button.danger').click();
  await agent.locator('#my-callbacks tr[data-callback]').first().waitFor({ state: 'detached' });
  await agent.locator('.tab[data-tab="callbacks"]', { hasText: '(1)' }).waitFor({ state: 'detached' });
  await setLang(agent, 'ru');
  step('my callbacks: listed and cancelled');

  // ---- the supervisor's other screens, both languages ---------------------------------------------
  for (const l of ['ru', 'en']) {
    await setLang(sup, l);
    await nav(sup, '#supervisor/wallboard');
    await sup.waitForSelector('#wb-agents tr');
    await shot(sup, `wallboard-${l}`);
    await nav(sup, '#supervisor/agents');
    await sup.waitForSelector('table.grid tbody tr');
    await shot(sup, `agents-${l}`);
    await nav(sup, '#supervisor/interactions');
    const row = sup.locator('tr[data-interaction]', { hasText: l === 'ru' ? 'Консультация' : 'Information given' }).first();
    await row.waitFor();
    await row.click();
    await sup.locator('#interaction-detail audio').waitFor();
    await shot(sup, `interaction-${l}`);
  }
  // The recording plays in the page.
  const playable = await sup.locator('#interaction-detail audio').evaluate((a) => new Promise((resolve) => {
    if (a.readyState >= 1) resolve(a.duration);
    a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
    a.addEventListener('error', () => resolve(-1), { once: true });
    a.load();
  }));
  expect(playable > 1, `the recording loads in the page (duration ${playable})`);
  result.recording_seconds = playable;
  // The browser decodes it (stereo µ-law): both sides there, the caller's not silent.
  const decoded = await sup.locator('#interaction-detail audio').evaluate(async (a) => {
    const bytes = await (await fetch(a.src)).arrayBuffer();
    const audio = await new OfflineAudioContext(2, 8000, 8000).decodeAudioData(bytes);
    const left = audio.getChannelData(0);
    let energy = 0;
    for (let i = 0; i < left.length; i += 1) energy += left[i] * left[i];
    return { channels: audio.numberOfChannels, seconds: audio.duration, rms: Math.sqrt(energy / left.length) };
  });
  expect(decoded.channels === 2 && decoded.seconds > 1 && decoded.rms > 0.001, `the browser decodes the recording: ${JSON.stringify(decoded)}`);
  result.recording_decoded = decoded;
  step('interactions and the recording');

  // ---- administration, both languages --------------------------------------------------------------
  const admin = await person('admin');
  await login(admin, 'admin');
  for (const l of ['ru', 'en']) {
    await setLang(admin, l);
    for (const p of ['users', 'agents', 'queues', 'dispositions', 'scripts', 'numbers', 'tenant', 'tenants']) {
      await nav(admin, `#admin/${p}`);
      await admin.waitForSelector(p === 'tenant' ? 'form.edit' : 'table.grid tbody tr');
      if (p === 'scripts') {
        await admin.locator('table.grid tbody tr').first().click();
        await admin.waitForSelector('#script-preview h3');
      }
      await shot(admin, `admin-${p}-${l}`);
    }
    await nav(admin, '#admin/flows');
    await admin.locator('.results button.link').first().click();
    await admin.waitForSelector('#flow-problems li');
  }
  // A mistake in a flow is shown at its line.
  const source = await admin.inputValue('#flow-source');
  await admin.fill('#flow-source', source.replace('then: main_menu', 'then: no_such_node'));
  await admin.click('button:text-is("Check")');
  await admin.locator('#flow-problems li', { hasText: 'line' }).first().waitFor();
  await shot(admin, 'admin-flows-en');
  const badLine = await admin.locator('pre.gutter .bad').first().textContent();
  expect(Number(badLine) > 0, 'the faulty line is marked in the gutter');
  step('administration');

  // ---- the operator creates a client company; its administrator is alone in it -----------------
  await nav(admin, '#admin/tenants');
  await admin.waitForSelector('table.grid tbody tr');
  await admin.click('.card button.primary:text-is("New")');
  await admin.fill('#tenant-name', 'Ромашка / Romashka');
  await admin.fill('#tenant-slug', 'romashka');
  await admin.fill('#tenant-admin-user', 'romashka-admin');
  await admin.fill('#tenant-admin-name', 'Администратор Ромашки');
  await admin.fill('#tenant-admin-password', password);
  await admin.click('form.edit button[type=submit]');
  await admin.locator('table.grid tbody tr', { hasText: 'romashka' }).waitFor();
  await shot(admin, 'admin-tenants-created-en');
  const client = await person('client-admin');
  await login(client, 'romashka-admin');
  await client.locator('header.top .tenant', { hasText: 'Ромашка' }).waitFor();
  await nav(client, '#admin/users');
  await client.locator('table.grid tbody tr', { hasText: 'romashka-admin' }).waitFor();
  expect((await client.locator('table.grid tbody tr').count()) === 1, 'the new company has only its administrator');
  expect((await client.locator('.subnav a[href="#admin/tenants"]').count()) === 0, 'a client company does not manage tenants');
  step('a client company created by the operator');

  // ---- log out everywhere ends the session ---------------------------------------------------------
  await sup.click('header.top button:text-is("Log out everywhere")');
  await sup.waitForSelector('form.login');

  expect(problems.length === 0, `no failed requests and no console errors:\n${problems.join('\n')}`);
  console.log(`RESULT ${JSON.stringify(result)}`);
  await browser.close();
  // The relay's listener and connections would keep node running.
  relay.close();
  for (const c of sockets) c.destroy();
  process.exit(0);
} catch (e) {
  console.log(`FAILED ${e.message}`);
  if (problems.length) console.log(`PROBLEMS\n${problems.join('\n')}`);
  for (const [i, p] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    try { await p.screenshot({ path: join(shots, `failure-${i}.png`), fullPage: true }); } catch { /* closed */ }
  }
  await browser.close();
  process.exit(1);
}
