// app.js: the build_runner dashboard. Follows docs/build-runner-api.md: the REST API for
// snapshots and actions, the WebSocket /api/events for live updates. Loaded after its
// helpers: server.js (the server panel), events.js (the socket), logview.js (the log view).
// Server data (package names, reasons, log text) reaches the page only through
// textContent, dataset and attribute setters, never innerHTML.
'use strict';

(() => {
  const TOKEN_KEY = 'build_runner.token';
  const PAGE_SIZE = 50;
  const UNFINISHED = new Set(['queued', 'fetching', 'running']);
  const RANK = { queued: 0, fetching: 1, running: 2 };   // terminal states rank 3

  const $ = (id) => document.getElementById(id);
  const ui = {
    queue: $('queue'), queueRunning: $('queue-running'), queueQueued: $('queue-queued'),
    tokenToggle: $('token-toggle'), tokenForm: $('token-form'), tokenInput: $('token-input'),
    tokenForget: $('token-forget'), tokenMessage: $('token-message'),
    serverSummary: $('server-summary'),
    listMessage: $('list-message'), packages: $('packages'), loadMore: $('load-more'),
  };

  const state = {
    token: storageGet(TOKEN_KEY),
    readNeedsToken: false,           // the server runs with public_read = false
    afterToken: null,                // what to do once a token is entered
    toolchains: [],                  // names, in the server's order
    packages: new Map(),             // package id -> entry (see upsertPackage)
    builds: new Map(),               // build id -> the newest Build object seen
    touched: new Map(),              // build id -> snapshot generation when an event last changed it
    gen: 0,                          // snapshot generation (see mergeSnapshot)
    sourceAsked: new Set(),          // builds fetched to label cached builds
    packageAsked: new Set(),         // packages fetched because an event named them
    queue: new Map(),                // unfinished build id -> 'queued' | 'running'
    listOffset: 0,
  };

  // ---------------------------------------------------------------- small helpers

  function storageGet(key) {
    try { return localStorage.getItem(key); } catch { return null; }
  }
  function storageSet(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch { /* storage disabled: the token lasts until the page is closed */ }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const str = (v) => (typeof v === 'string' ? v : '');
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const isUnfinished = (b) => UNFINISHED.has(b.state);
  const progress = (b) => num(b.attempt) * 10 + (b.state in RANK ? RANK[b.state] : 3);

  function fmtDuration(ms) {
    if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    const s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }
  function fmtTime(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  // ---------------------------------------------------------------- HTTP

  // Returns {status, body}; status 0 when the server could not be reached.
  async function request(method, path) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let res;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store' });
    } catch (e) {
      return { status: 0, body: { error: 'cannot reach the server (' + e.message + ')' } };
    }
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    return { status: res.status, body };
  }

  const errorText = (r) => (r.body && typeof r.body.error === 'string' ? r.body.error : 'HTTP ' + r.status);

  // A line above the packages: what an action did, or why something failed (`error`).
  function notice(text, error = false) {
    ui.listMessage.textContent = text;
    ui.listMessage.dataset.kind = error ? 'error' : 'info';
  }

  // ---------------------------------------------------------------- token

  function showTokenForm(message, focus = true) {
    ui.tokenForm.hidden = false;
    ui.tokenToggle.setAttribute('aria-expanded', 'true');
    ui.tokenMessage.textContent = message || '';
    ui.tokenInput.value = '';
    if (focus) ui.tokenInput.focus();
  }
  function hideTokenForm() {
    ui.tokenForm.hidden = true;
    ui.tokenToggle.setAttribute('aria-expanded', 'false');
    ui.tokenMessage.textContent = '';
  }
  function renderTokenState() {
    ui.tokenToggle.textContent = state.token ? 'Token \u2713' : 'Token';
    ui.tokenToggle.dataset.set = state.token ? 'true' : 'false';
    ui.tokenToggle.title = state.token ? 'An API token is saved in this browser' : 'Enter the API token';
  }
  // Asks for the token; `then` runs once one is saved.
  function askToken(message, then) {
    state.afterToken = then || null;
    showTokenForm(message);
  }

  ui.tokenToggle.addEventListener('click', () => {
    if (ui.tokenForm.hidden) showTokenForm('');
    else hideTokenForm();
  });
  ui.tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = ui.tokenInput.value.trim();
    if (!token) {
      ui.tokenMessage.textContent = 'Enter the token the server was started with.';
      return;
    }
    state.token = token;
    storageSet(TOKEN_KEY, token);
    ui.tokenInput.value = '';
    hideTokenForm();
    renderTokenState();
    ui.tokenToggle.focus();
    const then = state.afterToken;
    state.afterToken = null;
    if (then) then();
  });
  ui.tokenForget.addEventListener('click', () => {
    state.token = null;
    storageSet(TOKEN_KEY, null);
    renderTokenState();
    ui.tokenMessage.textContent = 'Token forgotten.';
    ui.tokenInput.focus();
  });
  ui.tokenForm.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { hideTokenForm(); ui.tokenToggle.focus(); }
  });

  // ---------------------------------------------------------------- server and queue

  async function loadToolchains() {
    const r = await request('GET', '/api/toolchains');
    if (r.status === 401) return needReadToken();
    if (r.status !== 200 || !r.body) {
      ui.serverSummary.textContent = 'Cannot load the toolchains: ' + errorText(r);
      return;
    }
    state.toolchains = window.BrServerPanel(r.body);
    for (const entry of state.packages.values()) renderPackage(entry);
  }

  async function loadQueue() {
    const g = ++state.gen;
    const r = await request('GET', '/api/queue');
    if (r.status !== 200 || !r.body) return;
    const next = new Map();
    for (const b of Array.isArray(r.body.running) ? r.body.running : []) next.set(b.id, 'running');
    for (const b of Array.isArray(r.body.queued) ? r.body.queued : []) next.set(b.id, 'queued');
    // Events that arrived while the request was out know better.
    for (const [id, at] of state.touched) {
      if (at < g) continue;
      const b = state.builds.get(id);
      if (!b || !isUnfinished(b)) next.delete(id);
      else next.set(id, b.state === 'queued' ? 'queued' : 'running');
    }
    state.queue = next;
    renderQueue();
  }

  function trackQueue(b) {
    if (!isUnfinished(b)) state.queue.delete(b.id);
    else state.queue.set(b.id, b.state === 'queued' ? 'queued' : 'running');
    renderQueue();
  }

  function renderQueue() {
    let running = 0;
    for (const v of state.queue.values()) if (v === 'running') running++;
    const queued = state.queue.size - running;
    ui.queueRunning.textContent = String(running);
    ui.queueQueued.textContent = String(queued);
    ui.queue.dataset.running = String(running);
    ui.queue.dataset.queued = String(queued);
  }

  // ---------------------------------------------------------------- packages

  async function loadPackages(more) {
    const offset = more ? state.listOffset : 0;
    const g = ++state.gen;
    const r = await request('GET', `/api/packages?limit=${PAGE_SIZE}&offset=${offset}`);
    if (r.status === 401) return needReadToken();
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.packages)) {
      notice('Cannot load the packages: ' + errorText(r), true);
      return;
    }
    const list = r.body.packages;
    for (const p of list) upsertPackage(p, g);
    if (!more) state.listOffset = Math.max(state.listOffset, list.length);
    else state.listOffset += list.length;
    ui.loadMore.hidden = list.length < PAGE_SIZE;
    notice(state.packages.size ? '' : 'No packages yet. Submit one with POST /api/packages or "build_runner submit".');
    document.body.dataset.loaded = 'true';
  }

  async function loadPackage(id) {
    if (state.packageAsked.has(id)) return;
    state.packageAsked.add(id);
    const g = ++state.gen;
    const r = await request('GET', '/api/packages/' + id);
    if (r.status === 200 && r.body) upsertPackage(r.body, g);
    else state.packageAsked.delete(id);
  }

  // Takes a build from a snapshot (list, package, source lookup) fetched in generation `g`.
  // An event received while that request was out may be newer than the snapshot.
  function mergeSnapshot(b, g) {
    const old = state.builds.get(b.id);
    if (old && (state.touched.get(b.id) ?? -1) >= g && progress(old) > progress(b)) return;
    state.builds.set(b.id, b);
  }

  // Adds or refreshes the card of Package `p`; returns its entry.
  function upsertPackage(p, g) {
    if (!p || typeof p.id !== 'number') return null;
    let entry = state.packages.get(p.id);
    if (!entry) {
      entry = { id: p.id, name: str(p.name), buildIds: new Set(), cells: new Map(), el: makePackageCard(p) };
      state.packages.set(p.id, entry);
      insertCard(entry.el, p.id);
      updateBadges(entry.name);
      notice('');
    }
    for (const b of Array.isArray(p.builds) ? p.builds : []) {
      if (typeof b.id !== 'number') continue;
      if (g === undefined) state.builds.set(b.id, b);
      else mergeSnapshot(b, g);
      entry.buildIds.add(b.id);
      if (g === undefined) trackQueue(b);
    }
    renderPackage(entry);
    return entry;
  }

  function makePackageCard(p) {
    const card = el('article', 'pkg');
    card.dataset.packageId = String(p.id);
    card.dataset.name = str(p.name);
    const head = el('div', 'pkg-head');
    const title = el('h3', 'pkg-name', str(p.name));
    const badge = el('img', 'badge');
    badge.alt = 'build status of ' + str(p.name);
    badge.height = 20;
    badge.src = badgeUrl(str(p.name));
    const meta = el('p', 'pkg-meta');
    const ref = el('span', 'pkg-ref', str(p.ref) || 'HEAD');
    const url = el('span', 'pkg-url', str(p.repo_url));
    url.title = str(p.repo_url);
    const when = el('span', 'pkg-time', '#' + p.id + ' \u00b7 ' + fmtTime(num(p.created_ms)));
    meta.append(ref, url, when);
    head.append(title, badge, meta);
    const matrix = el('div', 'matrix');
    matrix.setAttribute('role', 'list');
    matrix.setAttribute('aria-label', 'Builds of ' + str(p.name));
    card.append(head, matrix);
    return card;
  }

  const badgeUrl = (name) => '/badge/' + encodeURIComponent(name) + '.svg?t=' + Date.now();

  // Newest first, by id.
  function insertCard(card, id) {
    for (const other of ui.packages.children) {
      if (Number(other.dataset.packageId) < id) { ui.packages.insertBefore(card, other); return; }
    }
    ui.packages.appendChild(card);
  }

  // The badge shows the newest submission of a name, so only that card carries it.
  function updateBadges(name, refresh) {
    let newest = null;
    for (const e of state.packages.values()) if (e.name === name && (!newest || e.id > newest.id)) newest = e;
    for (const e of state.packages.values()) {
      if (e.name !== name) continue;
      const img = e.el.querySelector('.badge');
      img.hidden = e !== newest;
      if (e === newest && refresh) img.src = badgeUrl(name);
    }
  }

  function toolchainOrder(name) {
    const i = state.toolchains.indexOf(name);
    return i < 0 ? state.toolchains.length : i;
  }

  // One cell per toolchain, showing the newest build (a retry replaces the cell's build).
  function renderPackage(entry) {
    const newest = new Map();
    for (const id of entry.buildIds) {
      const b = state.builds.get(id);
      if (!b) continue;
      const tc = str(b.toolchain);
      const cur = newest.get(tc);
      if (!cur || b.id > cur.id) newest.set(tc, b);
    }
    const matrix = entry.el.querySelector('.matrix');
    const names = [...newest.keys()].sort((a, b) => toolchainOrder(a) - toolchainOrder(b) || a.localeCompare(b));
    names.forEach((tc, i) => {
      let cell = entry.cells.get(tc);
      if (!cell) {
        cell = makeCell(tc);
        entry.cells.set(tc, cell);
      }
      if (matrix.children[i] !== cell) matrix.insertBefore(cell, matrix.children[i] || null);
      updateCell(cell, newest.get(tc));
    });
  }

  function makeCell(toolchain) {
    const cell = el('div', 'cell');
    cell.setAttribute('role', 'listitem');
    cell.dataset.toolchain = toolchain;
    const open = el('button', 'cell-open');
    open.type = 'button';
    open.append(el('span', 'cell-tc', toolchain), el('span', 'cell-state'), el('span', 'cell-meta'),
      el('span', 'cell-reason'));
    const action = el('button', 'cell-action');
    action.type = 'button';
    cell.append(open, action);
    return cell;
  }

  function stateLabel(b) {
    if (b.state !== 'cached') return str(b.state);
    if (b.cached_from === null || b.cached_from === undefined) return 'cached';
    const src = state.builds.get(b.cached_from);
    if (!src) {
      askSource(b);
      return 'cached';
    }
    return src.state === 'cached' ? 'cached' : 'cached (' + src.state + ')';
  }

  async function askSource(b) {
    const id = b.cached_from;
    if (state.sourceAsked.has(id)) return;
    state.sourceAsked.add(id);
    const g = ++state.gen;
    const r = await request('GET', '/api/builds/' + id);
    if (r.status !== 200 || !r.body) return;
    mergeSnapshot(r.body, g);
    const entry = state.packages.get(b.package_id);
    if (entry) renderPackage(entry);
    logView.onBuild(b);
  }

  function timeText(b) {
    if (b.state === 'queued') return 'waiting';
    if (isUnfinished(b)) return b.started_ms ? fmtDuration(Date.now() - b.started_ms) : '';
    if (b.state === 'cached') return b.cached_from ? 'from #' + b.cached_from : '';
    return b.started_ms ? fmtDuration(num(b.duration_ms)) : '';
  }

  // Everything the server knows about how a build went, for the tooltip and the log view.
  function details(b) {
    const parts = [];
    if (b.reason && b.reason !== b.state) parts.push(str(b.reason));
    if (b.exit_code !== null && b.exit_code !== undefined && !isUnfinished(b)) parts.push('exit ' + b.exit_code);
    if (b.signal) parts.push('signal ' + b.signal);
    const t = timeText(b);
    if (t) parts.push(t);
    if (b.peak_memory_kb) parts.push('peak ' + (b.peak_memory_kb / 1024).toFixed(1) + ' MiB');
    if (b.commit) parts.push('commit ' + str(b.commit).slice(0, 12));
    if (b.job_id) parts.push('Slurm job ' + str(b.job_id));
    if (num(b.attempt) > 1) parts.push('attempt ' + b.attempt);
    if (b.retry_of) parts.push('retry of #' + b.retry_of);
    if (b.duplicate_of) parts.push('same as #' + b.duplicate_of);
    if (b.log_truncated) parts.push('log truncated');
    return parts;
  }

  function updateCell(cell, b) {
    const label = stateLabel(b);
    cell.dataset.buildId = String(b.id);
    cell.dataset.state = str(b.state);
    cell.dataset.label = label;
    cell.title = [str(b.package) + ' on ' + str(b.toolchain), 'build #' + b.id, label, ...details(b)]
      .join(' \u00b7 ');
    const open = cell.querySelector('.cell-open');
    cell.querySelector('.cell-state').textContent = label;
    cell.querySelector('.cell-meta').textContent = '#' + b.id + (timeText(b) ? ' \u00b7 ' + timeText(b) : '');
    // "cancelled" as the reason of a cancelled build says nothing new.
    const reason = b.reason === b.state ? '' : str(b.reason);
    cell.querySelector('.cell-reason').textContent = reason;
    open.setAttribute('aria-label', str(b.toolchain) + ': ' + label + (reason ? ', ' + reason : '') +
      '. Show the log of build ' + b.id);
    const action = cell.querySelector('.cell-action');
    const kind = isUnfinished(b) ? 'cancel' : 'retry';
    action.dataset.action = kind;
    action.textContent = kind === 'cancel' ? 'Cancel' : 'Retry';
    action.setAttribute('aria-label', (kind === 'cancel' ? 'Cancel' : 'Retry') + ' build ' + b.id + ' (' +
      str(b.package) + ', ' + str(b.toolchain) + ')');
  }

  // Running cells show their elapsed time.
  setInterval(() => {
    for (const cell of ui.packages.querySelectorAll('.cell[data-state="running"], .cell[data-state="fetching"]')) {
      const b = state.builds.get(Number(cell.dataset.buildId));
      if (b) cell.querySelector('.cell-meta').textContent = '#' + b.id + ' \u00b7 ' + timeText(b);
    }
  }, 1000);

  ui.packages.addEventListener('click', (ev) => {
    const button = ev.target.closest('button');
    if (!button) return;
    const cell = button.closest('.cell');
    const id = Number(cell && cell.dataset.buildId);
    if (!id) return;
    if (button.classList.contains('cell-open')) logView.open(id, button);
    else if (button.classList.contains('cell-action')) buildAction(button.dataset.action, id, button);
  });
  ui.loadMore.addEventListener('click', () => loadPackages(true));

  // ---------------------------------------------------------------- builds

  // A build as an event reports it: events arrive in order, so they always win.
  function applyBuild(b) {
    if (!b || typeof b.id !== 'number') return;
    const before = state.builds.get(b.id);
    state.touched.set(b.id, state.gen);
    state.builds.set(b.id, b);
    trackQueue(b);
    const entry = state.packages.get(b.package_id);
    if (!entry) {
      loadPackage(b.package_id);
    } else {
      entry.buildIds.add(b.id);
      renderPackage(entry);
      // The badge changes when a build appears or finishes.
      if (!before || isUnfinished(before) !== isUnfinished(b)) updateBadges(entry.name, true);
    }
    logView.onBuild(b);
  }

  // A build from an HTTP answer: the socket may already have told of a later state (a retry
  // that failed fast can finish before its POST is answered).
  function applyAnswer(b) {
    const old = b && state.builds.get(b.id);
    if (old && progress(old) > progress(b)) return;
    applyBuild(b);
  }

  // POST /api/builds/{id}/cancel|retry. Resolves with the new Build of a retry, else null.
  async function buildAction(kind, id, button) {
    if (kind !== 'cancel' && kind !== 'retry') return null;
    if (!state.token) {
      askToken(`Enter the API token to ${kind} build #${id}.`, () => buildAction(kind, id, button));
      return null;
    }
    if (button) button.disabled = true;
    const r = await request('POST', `/api/builds/${id}/${kind}`);
    if (button) button.disabled = false;
    if (r.status === 401) {
      askToken('The server refused the token. Enter it again.', () => buildAction(kind, id, button));
      return null;
    }
    if (r.status === 409) {
      notice(`Build #${id}: ${errorText(r)}`, true);
      const fresh = await request('GET', '/api/builds/' + id);
      if (fresh.status === 200) applyAnswer(fresh.body);
      return null;
    }
    if (r.status !== 200 && r.status !== 202) {
      notice(`Cannot ${kind} build #${id}: ${errorText(r)}`, true);
      return null;
    }
    notice(kind === 'cancel' ? `Cancelling build #${id}.` : `Build #${id} retried as #${r.body && r.body.id}.`);
    // A cancel answers 200 with the build (it was queued) or 202 {cancelling}; a retry the new build.
    if (r.body && typeof r.body.state === 'string') applyAnswer(r.body);
    return kind === 'retry' && r.body && typeof r.body.id === 'number' ? r.body : null;
  }

  // ---------------------------------------------------------------- events

  function wsUrl() {
    let url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/events';
    if (state.readNeedsToken && state.token) url += '?token=' + encodeURIComponent(state.token);
    return url;
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'submitted':
        upsertPackage(msg.package);
        break;
      case 'queued': case 'started': case 'state': case 'finished':
        applyBuild(msg.build);
        break;
      case 'log':
        logView.onLog(msg);
        break;
      case 'error':
        console.warn('build_runner:', str(msg.error));
        break;
      default:
        break;
    }
  }

  function onClose(code) {
    if (code === 4401) needReadToken();
    // Not connected yet: show what the REST API has meanwhile.
    else if (!document.body.dataset.loaded) loadAll();
  }

  function needReadToken() {
    state.readNeedsToken = true;
    if (!ui.tokenForm.hidden && state.afterToken) return;
    askToken(state.token ? 'The server refused the token. Enter it again.'
      : 'This server needs the API token to show its builds.', () => {
      events.reconnectNow();
    });
  }

  function loadAll() {
    loadToolchains().then(() => Promise.all([loadPackages(false), loadQueue()]));
  }

  // ---------------------------------------------------------------- start

  const events = window.BrEvents({
    url: wsUrl,
    onOpen: () => {
      logView.onReconnect();
      loadAll();
    },
    onMessage,
    onClose,
  });
  const logView = window.BrLogView({
    send: (msg) => events.send(msg),
    build: (id) => state.builds.get(id) || null,
    details,
    label: stateLabel,
    action: buildAction,
    cellButton: (id) => ui.packages.querySelector(`.cell[data-build-id="${id}"] .cell-open`),
  });

  renderTokenState();
  renderQueue();
  if (!state.token) showTokenForm('', false);
  events.connect();
})();
