// build_runner_dashboard.mjs: drives the build_runner dashboard (apps/build_runner/www) in
// headless Chromium against a real build_runner with real git repositories and toolchains,
// following docs/build-runner-api.md.
//
//   node tests/browser/build_runner_dashboard.mjs build/release/apps/build_runner/build_runner
//
// Checks: the header lists the server's toolchains and limits; the token is entered once in
// the form and kept in localStorage; packages submitted through the API appear at the top
// and their cells move queued -> ... -> passed/failed live, without a reload; a finished
// build's log shows its output; a running build's log follows new lines live, and its
// Cancel button makes it cancelled; Retry on a failed cell puts a new build in the cell that
// fails again; a resubmission shows "cached (passed)"; a wrong token brings the form back
// and the action goes through once the right one is entered; at 390x844 nothing overflows
// horizontally; the server exits cleanly on SIGTERM without a sanitizer report.
// Exit 0 = pass, 1 = fail (reason on stderr, screenshots in a temp dir or $ARTIFACTS_DIR),
// 77 = skipped (no Chromium or no playwright-core).
// Environment: CHROMIUM (default: `chromium` on PATH), ARTIFACTS_DIR, DALLY_TEST_SLOWDOWN.

import { spawn, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Sanitizer builds run the server several times slower (DALLY_TEST_SLOWDOWN, as in ctest).
const SLOWDOWN = Math.max(1, Number(process.env.DALLY_TEST_SLOWDOWN || 1));
const TOTAL_TIMEOUT_MS = 240_000 * SLOWDOWN;
const LISTEN_TIMEOUT_MS = 20_000 * SLOWDOWN;
const STEP_TIMEOUT_MS = 30_000 * SLOWDOWN;
const TOKEN = 'testtoken';
const SANITIZER_RE = /ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|WARNING: ThreadSanitizer/;

let server = null;            // the build_runner child process
let serverLog = '';           // its stdout and stderr, for failure reports
let browser = null;
let root = null;              // temp dir: repositories and the server's data
let page = null;
const pageErrors = [];
let step = 'start-up';

function log(msg) {
  process.stderr.write(`[br_dashboard] ${msg}\n`);
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function findChromium() {
  if (process.env.CHROMIUM) return existsSync(process.env.CHROMIUM) ? process.env.CHROMIUM : null;
  for (const dir of (process.env.PATH || '').split(':')) {
    const p = path.join(dir || '.', 'chromium');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

// ---------------------------------------------------------------- git repositories

function git(dir, ...args) {
  execFileSync('git', ['-c', 'user.name=Dashboard Test', '-c', 'user.email=test@example.invalid',
    '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args],
  { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

// A git repository at root/repos/<name> holding `files`; readable by the sandbox's uid.
async function makeRepo(name, files) {
  const dir = path.join(root, 'repos', name);
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'test package ' + name);
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return 'file://' + dir;
}

// Make recipes need tabs.
const mk = (lines) => lines.map((l) => l.replace(/^> /, '\t')).join('\n') + '\n';

const PASS_FILES = {
  'hello.c': '#include <stdio.h>\nint main(void) { puts("hello from build_runner"); return 0; }\n',
  'Makefile': mk([
    'CC ?= cc',
    'all: hello',
    'hello: hello.c',
    '> $(CC) -O1 -o hello hello.c',
    'test: hello',
    '> ./hello',
    '> @echo "PASS-MARKER all tests passed"',
    '.PHONY: all test',
  ]),
};
const FAIL_FILES = {
  'broken.c': 'int main(void) { return this is not C; }\n',
  'Makefile': mk([
    'CC ?= cc',
    'all:',
    '> @echo "FAIL-MARKER compiling broken.c"',
    '> $(CC) -o broken broken.c',
    'test: all',
    '.PHONY: all test',
  ]),
};
// About 30 s of steady output: long enough to watch live and cancel.
const SLOW_FILES = {
  'Makefile': mk([
    'all:',
    '> @i=0; while [ $$i -lt 60 ]; do i=$$((i+1)); echo "tick $$i"; sleep 0.5; done',
    'test:',
    '.PHONY: all test',
  ]),
};

// ---------------------------------------------------------------- the server

function startServer(binary, dataDir) {
  return new Promise((resolve, reject) => {
    const args = ['--port', '0', '--data-dir', dataDir, '--token', TOKEN, '--concurrency', '2'];
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
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(pending);
      if (m) finish(null, Number(m[1]));
    });
    server.stderr.on('data', (chunk) => { serverLog += chunk; });
    server.on('error', (err) => finish(new Error(`cannot start the server: ${err.message}`)));
    server.on('exit', (code, signal) => {
      serverLog += `\n[server exited: code ${code}, signal ${signal}]\n`;
      finish(new Error(`the server exited (code ${code}, signal ${signal}) before listening`));
    });
  });
}

// SIGTERM, then SIGKILL after a grace period; resolves with {code, signal}.
async function stopServer() {
  if (!server) return null;
  if (server.exitCode !== null || server.signalCode !== null) {
    return { code: server.exitCode, signal: server.signalCode };
  }
  const exited = new Promise((resolve) => server.once('exit', (code, signal) => resolve({ code, signal })));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 10_000 * SLOWDOWN);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

process.on('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  if (root) rmSync(root, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`interrupted by ${sig}`);
    process.exit(1);
  });
}

let base = '';
async function api(method, urlPath, body, token = TOKEN) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + urlPath, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function submit(body) {
  const r = await api('POST', '/api/packages', body);
  check(r.status === 202 && r.json && Array.isArray(r.json.build_ids),
    `POST /api/packages ${JSON.stringify(body)} should answer 202 with build_ids: ${r.status} ${r.text}`);
  return r.json;
}

// ---------------------------------------------------------------- page helpers

const card = (name) => `#packages .pkg[data-name="${name}"]`;

// Resolves when every cell of package `name` is in `state` (and there are `count` cells).
async function waitCells(name, count, pred, what) {
  try {
    await page.waitForFunction(([sel, n, src]) => {
      const f = new Function('cell', 'return ' + src);
      const cells = [...document.querySelectorAll(sel + ' .cell')];
      return cells.length === n && cells.every((c) => f(c));
    }, [card(name), count, pred]);
  } catch (e) {
    const now = await page.evaluate((sel) => [...document.querySelectorAll(sel + ' .cell')]
      .map((c) => `${c.dataset.toolchain}:#${c.dataset.buildId}:${c.dataset.label}`), card(name));
    throw new Error(`${what}: cells are ${JSON.stringify(now)} (${e.message.split('\n')[0]})`);
  }
}

const cellStates = (name) => page.evaluate((sel) => [...document.querySelectorAll(sel + ' .cell')]
  .map((c) => ({ tc: c.dataset.toolchain, id: Number(c.dataset.buildId), state: c.dataset.state, label: c.dataset.label })),
card(name));

async function logText() {
  return page.locator('#log-output').evaluate((e) => e.textContent);
}

async function waitLog(re, what) {
  try {
    await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#log-output').textContent),
      re.source);
  } catch (e) {
    throw new Error(`${what}: the log view shows ${JSON.stringify((await logText()).slice(-400))}`);
  }
}

async function saveArtifacts() {
  if (!page) return;
  let dir = process.env.ARTIFACTS_DIR;
  try {
    if (dir) await mkdir(dir, { recursive: true });
    else dir = await mkdtemp(path.join(tmpdir(), 'br-dashboard-artifacts-'));
  } catch (e) {
    log(`cannot create an artifacts directory: ${e.message}`);
    return;
  }
  const file = path.join(dir, 'build_runner_dashboard.png');
  try {
    await withTimeout(page.screenshot({ path: file, fullPage: true }), 5000, 'screenshot');
    log(`screenshot: ${file}`);
    const cells = await withTimeout(page.evaluate(() => [...document.querySelectorAll('.pkg')].map((p) =>
      p.dataset.name + ': ' + [...p.querySelectorAll('.cell')].map((c) => c.title).join(' | ')).join('\n')),
    2000, 'cells');
    log(`packages on the page:\n${cells}`);
  } catch (e) {
    log(`no screenshot: ${e.message}`);
  }
}

// ---------------------------------------------------------------- the test

async function run(binary, chromiumPath) {
  const { chromium } = await import('playwright-core');
  root = await mkdtemp(path.join(tmpdir(), 'br-dashboard-'));
  await chmod(root, 0o755);   // the sandbox's uid reads the repositories below
  const suffix = Math.random().toString(36).slice(2, 7);
  const names = { pass: 'pass-' + suffix, fail: 'fail-' + suffix, slow: 'slow-' + suffix };

  step = 'create git repositories';
  const urls = {
    pass: await makeRepo('pass', PASS_FILES),
    fail: await makeRepo('fail', FAIL_FILES),
    slow: await makeRepo('slow', SLOW_FILES),
  };
  await chmod(path.join(root, 'repos'), 0o755);

  step = 'start the server';
  const dataDir = path.join(root, 'data');
  const port = await startServer(binary, dataDir);
  base = `http://127.0.0.1:${port}`;
  const tc = await api('GET', '/api/toolchains');
  check(tc.status === 200 && tc.json && Array.isArray(tc.json.toolchains) && tc.json.toolchains.length > 0,
    `GET /api/toolchains should list toolchains: ${tc.status} ${tc.text.slice(0, 300)}`);
  const toolchains = tc.json.toolchains.map((t) => t.name);
  const n = toolchains.length;
  log(`server on port ${port}; toolchains ${toolchains.join(', ')}`);

  step = 'open the dashboard';
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: STEP_TIMEOUT_MS,
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') log(`console error: ${msg.text()}`); });
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
  await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('body[data-conn="connected"][data-loaded="true"]');
  const loadedNavigations = navigations;
  await page.evaluate(() => { window.brTestMarker = 'still the same page'; });

  step = 'the header shows the toolchains and limits';
  const summary = await page.locator('#toolchains-summary').textContent();
  for (const t of toolchains) check(summary.includes(t), `#toolchains-summary should name ${t}: ${summary}`);
  check((await page.locator('#toolchain-rows tr').count()) === n, 'one limits row per toolchain');
  const server = await page.locator('#server-summary').textContent();
  check(/executor/.test(server) && /sandbox/.test(server), `#server-summary: ${server}`);

  step = 'enter the token once';
  await page.locator('#token-form').waitFor({ state: 'visible' });
  await page.fill('#token-input', TOKEN);
  await page.click('#token-save');
  await page.locator('#token-form').waitFor({ state: 'hidden' });
  check(await page.evaluate(() => localStorage.getItem('build_runner.token')) === TOKEN,
    'the token should be kept in localStorage');

  step = 'submit a passing and a failing package; cells move live';
  // Records every state each build's cell shows, to prove the cells changed in place.
  await page.evaluate(() => {
    window.brSeen = {};
    const note = (c) => {
      if (!c.dataset.buildId) return;
      const seen = (window.brSeen[c.dataset.buildId] ||= []);
      if (seen[seen.length - 1] !== c.dataset.state) seen.push(c.dataset.state);
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') note(r.target);
        for (const added of r.addedNodes || []) {
          if (added.nodeType === 1) added.querySelectorAll('.cell').forEach(note);
          if (added.nodeType === 1 && added.matches('.cell')) note(added);
        }
      }
    }).observe(document.querySelector('#packages'), {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-state', 'data-build-id'],
    });
  });
  const passPkg = await submit({ name: names.pass, repo_url: urls.pass, ref: 'main' });
  const failPkg = await submit({ name: names.fail, repo_url: urls.fail });
  await page.locator(card(names.pass)).waitFor();
  await page.locator(card(names.fail)).waitFor();
  const order = await page.evaluate(() => [...document.querySelectorAll('#packages .pkg')].map((p) => p.dataset.name));
  check(order[0] === names.fail && order[1] === names.pass, `newest package first: ${JSON.stringify(order)}`);
  await waitCells(names.pass, n, 'cell.dataset.state === "passed"', 'the passing package should pass');
  await waitCells(names.fail, n, 'cell.dataset.state === "failed"', 'the failing package should fail');
  const seen = await page.evaluate(() => window.brSeen);
  for (const id of [...passPkg.build_ids, ...failPkg.build_ids]) {
    const s = seen[id] || [];
    check(s.length >= 2 && ['queued', 'fetching', 'running'].includes(s[0]),
      `build ${id}'s cell should have changed live from an unfinished state: ${JSON.stringify(s)}`);
  }
  const failCell = (await cellStates(names.fail))[0];
  const failReason = await page.locator(`${card(names.fail)} .cell >> nth=0`).locator('.cell-reason').textContent();
  check(/exited|step/.test(failReason), `a failed cell should show its reason: ${JSON.stringify(failReason)}`);
  const badge = page.locator(`${card(names.pass)} img.badge`);
  await page.waitForFunction((sel) => {
    const img = document.querySelector(sel + ' img.badge');
    return img && img.complete && img.naturalWidth > 0;
  }, card(names.pass));
  check(decodeURIComponent(await badge.getAttribute('src')).startsWith(`/badge/${names.pass}.svg`), 'badge src');

  step = 'open a finished log';
  await page.click(`${card(names.pass)} .cell >> nth=0 >> .cell-open`);
  await page.locator('#log-view').waitFor({ state: 'visible' });
  await waitLog(/hello from build_runner[\s\S]*PASS-MARKER/, 'the passing build\'s log');
  check((await page.locator('#log-state').textContent()) === 'passed', 'the log view shows the state');
  await page.click('#log-close');
  await page.locator('#log-view').waitFor({ state: 'hidden' });
  await page.click(`${card(names.fail)} .cell >> nth=0 >> .cell-open`);
  await waitLog(/FAIL-MARKER/, 'the failing build\'s log');
  await page.keyboard.press('Escape');
  await page.locator('#log-view').waitFor({ state: 'hidden' });

  step = 'follow a running build and cancel it';
  const slowPkg = await submit({ name: names.slow, repo_url: urls.slow, toolchains: [toolchains[0]] });
  const slowId = slowPkg.build_ids[0];
  await waitCells(names.slow, 1, 'cell.dataset.state === "running"', 'the slow build should run');
  await page.click(`${card(names.slow)} .cell-open`);
  await waitLog(/tick 2\b/, 'the running build\'s log');
  const ticks = () => logText().then((t) => Math.max(0, ...[...t.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]))));
  const firstTick = await ticks();
  await page.waitForFunction((k) => new RegExp(`tick ${k}\\b`).test(document.querySelector('#log-output').textContent),
    firstTick + 3);
  const text = await logText();
  for (let i = 1; i <= firstTick + 3; i++) {
    check(text.split('\n').filter((l) => l === `tick ${i}`).length === 1,
      `the followed log should hold "tick ${i}" exactly once: ${JSON.stringify(text.slice(-300))}`);
  }
  await page.locator('#log-cancel').waitFor({ state: 'visible' });
  await page.click('#log-cancel');
  await waitCells(names.slow, 1, 'cell.dataset.state === "cancelled"', 'the slow build should be cancelled');
  await page.waitForFunction(() => document.querySelector('#log-state').textContent === 'cancelled');
  check(await page.locator('#log-retry').isVisible(), 'a cancelled build offers Retry');
  const slow = await api('GET', '/api/builds/' + slowId);
  check(slow.json && slow.json.state === 'cancelled', `GET /api/builds/${slowId}: ${slow.text}`);
  await page.click('#log-close');

  step = 'retry the failed build';
  await page.click(`${card(names.fail)} .cell >> nth=0 >> .cell-action[data-action="retry"]`);
  await waitCells(names.fail, n, `cell.dataset.toolchain !== ${JSON.stringify(failCell.tc)} ||
    (Number(cell.dataset.buildId) > ${failCell.id} && cell.dataset.state === "failed")`,
  'the retried cell should hold a new build that fails');
  const retried = (await cellStates(names.fail)).find((c) => c.tc === failCell.tc);
  const rb = await api('GET', '/api/builds/' + retried.id);
  check(rb.json && rb.json.retry_of === failCell.id, `build ${retried.id} should be a retry of ${failCell.id}: ${rb.text}`);
  const seenRetry = (await page.evaluate(() => window.brSeen))[retried.id] || [];
  check(seenRetry[0] === 'queued' || seenRetry[0] === 'fetching' || seenRetry[0] === 'running',
    `the retry's cell should start unfinished: ${JSON.stringify(seenRetry)}`);

  step = 'a resubmission is served from the cache';
  await submit({ name: names.pass, repo_url: urls.pass, ref: 'main' });
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, card(names.pass));
  await waitCells(names.pass, 2 * n, 'cell.dataset.state === "passed" || cell.dataset.label === "cached (passed)"',
    'the resubmitted package should show cached (passed)');
  const cards = page.locator(card(names.pass));
  const topName = await page.locator('#packages .pkg').first().getAttribute('data-name');
  check(topName === names.pass, `the resubmission should be at the top, not ${topName}`);
  const cached = await cards.first().locator('.cell').evaluateAll((cs) => cs.map((c) => c.dataset.label));
  check(cached.every((l) => l === 'cached (passed)'), `cells of the resubmission: ${JSON.stringify(cached)}`);
  check(await cards.first().locator('img.badge').isVisible() && await cards.nth(1).locator('img.badge').isHidden(),
    'only the newest submission of a name shows the badge');

  step = 'a wrong token asks again';
  await page.click('#token-toggle');
  await page.fill('#token-input', 'wrong-token');
  await page.click('#token-save');
  await page.click(`${card(names.slow)} .cell-action[data-action="retry"]`);
  await page.locator('#token-form').waitFor({ state: 'visible' });
  const msg = await page.locator('#token-message').textContent();
  check(/refused|token/i.test(msg), `the token form should say why it is back: ${JSON.stringify(msg)}`);
  await page.fill('#token-input', TOKEN);
  await page.click('#token-save');
  await page.waitForFunction(([sel, id]) => Number(document.querySelector(sel + ' .cell').dataset.buildId) > id,
    [card(names.slow), slowId]);
  const newSlow = (await cellStates(names.slow))[0];
  check(await page.evaluate(() => localStorage.getItem('build_runner.token')) === TOKEN, 'the new token is kept');
  const c2 = await api('POST', `/api/builds/${newSlow.id}/cancel`);
  check(c2.status === 200 || c2.status === 202, `cancel the retried slow build: ${c2.status} ${c2.text}`);
  await waitCells(names.slow, 1, 'cell.dataset.state === "cancelled"', 'the retried slow build is cancelled');
  await page.waitForFunction(() => document.querySelector('#queue').dataset.running === '0' &&
    document.querySelector('#queue').dataset.queued === '0');

  step = 'no reload happened';
  check(navigations === loadedNavigations && await page.evaluate(() => window.brTestMarker) === 'still the same page',
    `the page should never have reloaded (navigations: ${navigations - loadedNavigations})`);

  step = 'phone-sized viewport';
  await page.setViewportSize({ width: 390, height: 844 });
  const fits = async (what) => {
    const w = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth]);
    check(w[0] <= 390 && w[1] <= 390, `the page should not overflow horizontally at 390px (${what}): ${w}`);
  };
  await fits('list');
  const cellBox = await page.locator('#packages .cell').first().boundingBox();
  check(cellBox && cellBox.x >= 0 && cellBox.x + cellBox.width <= 390, `a cell should fit: ${JSON.stringify(cellBox)}`);
  await page.click('#toolchains summary');
  await fits('toolchains open');
  await page.click(`${card(names.pass)} >> nth=0 >> .cell-open >> nth=0`);
  const logBox = await page.locator('#log-view').boundingBox();
  check(logBox && logBox.x >= 0 && logBox.x + logBox.width <= 390 && logBox.height > 400,
    `the log view should fill the phone screen: ${JSON.stringify(logBox)}`);
  check(await page.locator('#log-close').isVisible(), 'the log view can be closed on a phone');
  await fits('log open');

  step = 'no client errors';
  check(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join('; ')}`);
}

async function main() {
  const binary = process.argv[2];
  if (!binary) {
    log('usage: node build_runner_dashboard.mjs <path to build_runner>');
    return 2;
  }
  if (!existsSync(binary)) {
    log(`FAIL: no server binary at ${binary}`);
    return 1;
  }
  const chromiumPath = findChromium();
  if (!chromiumPath) {
    log('SKIP: no chromium on PATH (set CHROMIUM to its path)');
    return 77;
  }
  try {
    await import('playwright-core');
  } catch {
    log('SKIP: playwright-core is not installed (npm ci in tests/browser)');
    return 77;
  }
  const started = Date.now();
  let status = 0;
  const watchdog = new Promise((_, reject) => {
    const t = setTimeout(() => reject(new Error(`the whole test took over ${TOTAL_TIMEOUT_MS / 1000} s`)),
      TOTAL_TIMEOUT_MS - 20_000);
    t.unref();
  });
  try {
    await Promise.race([run(binary, chromiumPath), watchdog]);
  } catch (e) {
    status = 1;
    log(`FAIL during "${step}": ${e.message}`);
    if (pageErrors.length) log(`page errors: ${pageErrors.join('; ')}`);
    await saveArtifacts();
  }
  if (browser) await withTimeout(browser.close(), 5000, 'closing chromium').catch((e) => log(e.message));
  const exit = await stopServer();
  if (status === 0 && exit && (exit.code !== 0 || exit.signal)) {
    status = 1;
    log(`FAIL: the server exited with code ${exit.code}, signal ${exit.signal} after SIGTERM`);
  }
  if (SANITIZER_RE.test(serverLog)) {
    status = 1;
    log('FAIL: the server printed a sanitizer report');
  }
  if (status !== 0) log(`server output (last 4000 characters):\n${serverLog.slice(-4000)}`);
  if (root) await rm(root, { recursive: true, force: true }).catch(() => {});
  root = null;
  if (status === 0) log(`PASS in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
