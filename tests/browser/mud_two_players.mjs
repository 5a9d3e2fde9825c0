// mud_two_players.mjs: drives the mud_server web client in two headless Chromium pages
// against a real mud_server, following docs/mud-protocol.md.
//
//   node tests/browser/mud_two_players.mjs build/release/apps/mud_server/mud_server
//
// Checks: both players create characters through the login form and see the start room; a
// `say` from A reaches B with its structured fields; A moves by clicking an exit button and B
// sees A leave; a `global` line from A reaches B; reloading A's page resumes the character
// without the login form; at 375x667 the input and output are visible and nothing overflows
// horizontally. Exit 0 = pass, 1 = fail (reason on stderr, screenshots in
// tests/browser/artifacts/ or $ARTIFACTS_DIR), 77 = skipped (no Chromium).
// Environment: CHROMIUM (default /usr/bin/chromium), ARTIFACTS_DIR, DALLY_TEST_SLOWDOWN.

import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// Sanitizer builds run the server several times slower (DALLY_TEST_SLOWDOWN, as in ctest).
const SLOWDOWN = Math.max(1, Number(process.env.DALLY_TEST_SLOWDOWN || 1));
const TOTAL_TIMEOUT_MS = 90_000 * SLOWDOWN;
const LISTEN_TIMEOUT_MS = 20_000 * SLOWDOWN;
const STEP_TIMEOUT_MS = 10_000 * SLOWDOWN;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let server = null;            // the mud_server child process
let serverLog = '';           // its stdout and stderr, for failure reports
let browser = null;
let dataDir = null;
const pages = {};             // label -> Page, for screenshots
const pageErrors = [];        // uncaught exceptions in the client
let step = 'start-up';

function log(msg) {
  process.stderr.write(`[mud_two_players] ${msg}\n`);
}

function randomLetters(n) {
  const a = 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < n; i++) s += a[Math.floor(Math.random() * a.length)];
  return s;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Starts the server and resolves with its port once it prints "listening on HOST:PORT".
function startServer(binary) {
  return new Promise((resolve, reject) => {
    const args = ['--port', '0', '--data-dir', dataDir, '--hash-cost', 'min'];
    log(`starting ${binary} ${args.join(' ')}`);
    server = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    let done = false;
    const finish = (err, port) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(port);
    };
    const timer = setTimeout(() => finish(new Error(
      `the server did not print "listening on 127.0.0.1:PORT" within ${LISTEN_TIMEOUT_MS} ms`)),
    LISTEN_TIMEOUT_MS);
    server.stdout.setEncoding('utf8');
    server.stderr.setEncoding('utf8');
    server.stdout.on('data', (chunk) => {
      serverLog += chunk;
      pending += chunk;
      const m = /listening on ([0-9.]+):(\d+)/.exec(pending);
      if (m) finish(null, Number(m[2]));
    });
    server.stderr.on('data', (chunk) => { serverLog += chunk; });
    server.on('error', (err) => finish(new Error(`cannot start the server: ${err.message}`)));
    server.on('exit', (code, signal) => {
      serverLog += `\n[server exited: code ${code}, signal ${signal}]\n`;
      finish(new Error(`the server exited (code ${code}, signal ${signal}) before listening`));
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

// Last-resort cleanup if the script dies some other way.
process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`interrupted by ${sig}`);
    process.exit(1);   // the exit handler kills the server
  });
}

async function newPlayer(label, base) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = await context.newPage();
  pages[label] = page;
  page.on('pageerror', (err) => pageErrors.push(`${label}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') log(`${label} console error: ${msg.text()}`);
  });
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  return page;
}

async function createCharacter(page, name, password) {
  await page.locator('#login-name').waitFor({ state: 'visible' });
  await page.fill('#login-name', name);
  await page.fill('#login-password', password);
  await page.click('#login-create');
  await page.waitForSelector('body[data-login="in"]');
  await page.locator('#login-name').waitFor({ state: 'hidden' });
  await page.waitForFunction(() => document.querySelector('#room-name').textContent !== '');
}

const roomOf = (page) => page.evaluate(() => {
  const el = document.querySelector('#room-name');
  return { id: el.dataset.roomId, name: el.textContent };
});

async function typeCommand(page, line) {
  await page.focus('#input');
  await page.fill('#input', line);
  await page.press('#input', 'Enter');
}

// Waits for an output line matching `selector` whose data attributes equal `data`.
async function waitForLine(page, selector, data, what) {
  try {
    return await page.waitForFunction(([sel, want]) => {
      for (const el of document.querySelectorAll('#output ' + sel)) {
        if (Object.entries(want).every(([k, v]) => el.dataset[k] === v)) return el.textContent;
      }
      return false;
    }, [selector, data]);
  } catch (e) {
    throw new Error(`${what}: no line ${selector} with ${JSON.stringify(data)} (${e.message.split('\n')[0]})`);
  }
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function saveArtifacts() {
  try {
    await mkdir(ARTIFACTS, { recursive: true });
  } catch (e) {
    log(`cannot create ${ARTIFACTS}: ${e.message}`);
    return;
  }
  for (const [label, page] of Object.entries(pages)) {
    const file = path.join(ARTIFACTS, `mud_two_players-${label}.png`);
    try {
      await withTimeout(page.screenshot({ path: file, fullPage: true }), 5000, 'screenshot');
      log(`screenshot: ${file}`);
      const tail = await withTimeout(page.evaluate(() =>
        [...document.querySelectorAll('#output > *')].slice(-25).map((e) => e.textContent).join('\n')),
      2000, 'output tail');
      log(`last output lines of page ${label}:\n${tail}`);
    } catch (e) {
      log(`no screenshot of page ${label}: ${e.message}`);
    }
  }
}

async function run(binary) {
  dataDir = await mkdtemp(path.join(tmpdir(), 'mud-browser-'));
  const port = await startServer(binary);
  const base = `http://127.0.0.1:${port}/`;
  log(`server listening on port ${port}`);

  step = 'launch chromium';
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });

  const suffix = randomLetters(5);
  const nameA = 'Amber' + suffix;
  const nameB = 'Basil' + suffix;
  const password = 'pw-' + randomLetters(10);

  step = 'create both characters through the login form';
  const a = await newPlayer('A', base);
  const b = await newPlayer('B', base);
  await createCharacter(a, nameA, password);
  await createCharacter(b, nameB, password);
  const startA = await roomOf(a);
  const startB = await roomOf(b);
  check(startA.id && startA.id === startB.id,
    `both players should start in the same room: A in ${JSON.stringify(startA)}, B in ${JSON.stringify(startB)}`);
  await b.waitForFunction((n) => [...document.querySelectorAll('#players li')]
    .some((li) => li.dataset.name === n), nameA);
  // A was there first: B's arrival reaches A as room_enter.
  await waitForLine(a, '.t-move', { event: 'enter', name: nameB }, 'A sees B arrive');
  await a.waitForFunction((n) => [...document.querySelectorAll('#players li')]
    .some((li) => li.dataset.name === n), nameB);
  const echoed = await a.evaluate(() => [...document.querySelectorAll('#output .t-echo')]
    .map((e) => e.textContent));
  check(echoed.some((t) => /create \S+ \*+$/.test(t)) && !echoed.some((t) => t.includes(password)),
    `the create command should be echoed with the password masked; echo lines: ${JSON.stringify(echoed)}`);

  step = 'A says something, B sees it';
  await typeCommand(a, 'say hello there');
  const said = await waitForLine(b, '.t-say', { type: 'say', from: nameA, msg: 'hello there' },
    'B sees A\'s say');
  check((await said.jsonValue()).includes('hello there'), `the say line should contain the text: ${await said.jsonValue()}`);
  check(await a.evaluate(() => document.activeElement && document.activeElement.id === 'input'),
    'the input should keep the focus after sending');

  step = 'A leaves by clicking an exit; B sees A leave';
  const exitButton = a.locator('#exits button[data-dir]').first();
  await exitButton.waitFor({ state: 'visible' });
  const dir = await exitButton.getAttribute('data-dir');
  await exitButton.click();
  await a.waitForFunction((id) => document.querySelector('#room-name').dataset.roomId !== id, startA.id);
  const movedTo = await roomOf(a);
  log(`A went ${dir}: ${startA.name} (${startA.id}) -> ${movedTo.name} (${movedTo.id})`);
  check(movedTo.name !== '' && movedTo.name !== startA.name,
    `A's #room-name should change: ${JSON.stringify(startA.name)} -> ${JSON.stringify(movedTo.name)}`);
  const left = await waitForLine(b, '.t-move', { event: 'leave', name: nameA, dir },
    'B sees A leave');
  check((await left.jsonValue()).startsWith(`${nameA} leaves`), `leave line: ${await left.jsonValue()}`);
  await b.waitForFunction((n) => ![...document.querySelectorAll('#players li')]
    .some((li) => li.dataset.name === n), nameA);

  step = 'A talks on the global channel; B hears it';
  await typeCommand(a, 'global hi all');
  await waitForLine(b, '.t-channel', { type: 'channel', channel: 'global', from: nameA, msg: 'hi all' },
    'B sees A on global');

  step = 'reloading A resumes the character';
  await a.reload({ waitUntil: 'domcontentloaded' });
  check(await a.locator('#login-form').isHidden(), 'the login form should stay hidden while resuming');
  await a.waitForSelector('body[data-login="in"][data-resumed="true"]');
  check(await a.locator('#login-form').isHidden(), 'the login form should be hidden after resuming');
  await a.waitForFunction((id) => document.querySelector('#room-name').dataset.roomId === id, movedTo.id);
  const conn = await a.locator('#conn-state').evaluate((e) => [e.dataset.state, e.textContent]);
  check(conn[0] === 'connected' && /^connected/i.test(conn[1]), `#conn-state should say connected: ${conn}`);

  step = 'phone-sized viewport';
  await a.setViewportSize({ width: 375, height: 667 });
  for (const open of [false, true]) {
    if (open) await a.click('#panel-toggle');
    for (const sel of ['#input', '#output', '#status', '#conn-state']) {
      const box = await a.locator(sel).boundingBox();
      check(box && box.width > 0 && box.height > 0 && box.x >= 0 && box.x + box.width <= 376,
        `${sel} should be visible within 375px (panel ${open ? 'open' : 'closed'}): ${JSON.stringify(box)}`);
    }
    const out = await a.locator('#output').boundingBox();
    check(out.height >= 100, `#output should have room to read (panel ${open ? 'open' : 'closed'}): ${out.height}px`);
    const widths = await a.evaluate(() => [document.body.scrollWidth, document.documentElement.scrollWidth]);
    check(widths[0] <= 376 && widths[1] <= 376,
      `the page should not overflow horizontally at 375px (panel ${open ? 'open' : 'closed'}): scrollWidth ${widths}`);
  }
  check(await a.locator('#exits button').first().isVisible(), 'the opened side panel should show the exits');

  step = 'no client errors';
  check(pageErrors.length === 0, `uncaught errors in the client: ${pageErrors.join('; ')}`);
}

async function main() {
  const binary = process.argv[2];
  if (!binary) {
    log('usage: node mud_two_players.mjs <path to mud_server>');
    return 2;
  }
  if (!existsSync(binary)) {
    log(`FAIL: no server binary at ${binary}`);
    return 1;
  }
  if (!existsSync(CHROMIUM)) {
    log(`SKIP: no Chromium at ${CHROMIUM} (set CHROMIUM to its path)`);
    return 77;
  }
  let status = 0;
  const watchdog = new Promise((_, reject) => {
    const t = setTimeout(() => reject(new Error(`the whole test took over ${TOTAL_TIMEOUT_MS / 1000} s`)),
      TOTAL_TIMEOUT_MS - 15_000);   // leaves time for screenshots and shutdown
    t.unref();
  });
  try {
    await Promise.race([run(binary), watchdog]);
    log('PASS');
  } catch (e) {
    status = 1;
    log(`FAIL during "${step}": ${e.message}`);
    if (pageErrors.length) log(`client errors: ${pageErrors.join('; ')}`);
    await saveArtifacts();
    log(`server output (last 3000 characters):\n${serverLog.slice(-3000)}`);
  } finally {
    if (browser) await withTimeout(browser.close(), 5000, 'closing chromium').catch((e) => log(e.message));
    await stopServer();
    if (dataDir) await rm(dataDir, { recursive: true, force: true }).catch(() => {});
  }
  return status;
}

const hardStop = setTimeout(() => {
  log(`FAIL: hard timeout of ${TOTAL_TIMEOUT_MS / 1000} s`);
  if (server && server.exitCode === null) server.kill('SIGKILL');
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
hardStop.unref();

main().then((code) => process.exit(code), (e) => {
  log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
