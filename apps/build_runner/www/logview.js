// logview.js: the build_runner dashboard's live log panel (used by app.js, loaded first).
// Opening a build subscribes to its log over the dashboard's WebSocket ({"type":"subscribe"}):
// the server answers with the log so far ("replay": true) and then every new piece, with no
// gap and no overlap. Log text is untrusted: it only ever becomes DOM text nodes.
'use strict';

// deps: send(msg) -> bool (false while the socket is down), build(id) -> Build|null,
// details(build) -> [string], label(build) -> string, action(kind, id, button) -> Promise<Build|null>
// (the new build of a retry), cellButton(id) -> the cell's button or null.
window.BrLogView = function createLogView(deps) {
  const MAX_CHARS = 4 << 20;         // log text kept in the page; older text is dropped
  const REPLAY_BYTES = 256 << 10;    // the most a subscription replays (docs/build-runner-api.md)
  const UNFINISHED = new Set(['queued', 'fetching', 'running']);
  // Terminal colour codes (compilers print them under some settings) would show as junk.
  const ANSI_RE = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

  const $ = (id) => document.getElementById(id);
  const ui = {
    view: $('log-view'), title: $('log-title'), state: $('log-state'), detail: $('log-detail'),
    raw: $('log-raw'), source: $('log-source'), cancel: $('log-cancel'), retry: $('log-retry'), close: $('log-close'), message: $('log-message'),
    output: $('log-output'), follow: $('log-follow'),
  };
  const state = {
    id: 0,                           // the build shown, 0 when closed
    subscribed: false,
    chars: 0,
    opener: null,                    // focus goes back here on close
  };

  function atBottom() {
    const o = ui.output;
    return o.scrollHeight - o.scrollTop - o.clientHeight < 24;
  }

  function scrollToEnd() {
    ui.output.scrollTop = ui.output.scrollHeight;
    ui.follow.hidden = true;
  }

  // Appends `text`; follows the end unless the reader scrolled up.
  function append(text) {
    if (!text) return;
    const stick = atBottom();
    text = text.replace(ANSI_RE, '');
    ui.output.appendChild(document.createTextNode(text));
    state.chars += text.length;
    while (state.chars > MAX_CHARS && ui.output.firstChild) {
      const first = ui.output.firstChild;
      state.chars -= first.textContent.length;
      first.remove();
      ui.output.dataset.trimmed = 'true';
    }
    if (stick) scrollToEnd();
    else ui.follow.hidden = false;
  }

  function clear() {
    ui.output.replaceChildren();
    state.chars = 0;
    delete ui.output.dataset.trimmed;
    ui.follow.hidden = true;
  }

  function subscribe() {
    state.subscribed = deps.send({ type: 'subscribe', build: state.id });
    ui.output.dataset.status = state.subscribed ? 'loading' : 'offline';
  }

  function render() {
    const b = deps.build(state.id);
    ui.view.dataset.buildId = String(state.id);
    ui.raw.href = `/api/builds/${state.id}/log?follow=0`;
    if (!b) {
      ui.title.textContent = 'Build #' + state.id;
      ui.state.textContent = '';
      ui.detail.textContent = '';
      ui.source.hidden = true;
      ui.cancel.hidden = true;
      ui.retry.hidden = true;
      return;
    }
    ui.title.textContent = `${b.package} \u00b7 ${b.toolchain} \u00b7 #${b.id}`;
    ui.state.textContent = deps.label(b);
    ui.state.dataset.state = b.state;
    ui.view.dataset.state = b.state;
    ui.detail.textContent = deps.details(b).join(' \u00b7 ');
    // A cached build's log only points at the build whose result it reused.
    const source = b.state === 'cached' && typeof b.cached_from === 'number' ? b.cached_from : 0;
    ui.source.hidden = !source;
    ui.source.dataset.buildId = String(source);
    ui.source.textContent = source ? `Log of #${source}` : '';
    const unfinished = UNFINISHED.has(b.state);
    ui.cancel.hidden = !unfinished;
    ui.retry.hidden = unfinished;
  }

  function open(id, opener) {
    if (state.id && state.id !== id) deps.send({ type: 'unsubscribe', build: state.id });
    const reopen = state.id === id && !ui.view.hidden;
    state.id = id;
    if (opener) state.opener = opener;
    ui.message.textContent = '';
    render();
    if (!reopen) {
      clear();
      subscribe();
    }
    ui.view.hidden = false;
    document.body.classList.add('log-open');
    ui.close.focus();
  }

  function close() {
    if (!state.id) return;
    deps.send({ type: 'unsubscribe', build: state.id });
    const id = state.id;
    state.id = 0;
    state.subscribed = false;
    ui.view.hidden = true;
    document.body.classList.remove('log-open');
    clear();
    const back = state.opener && state.opener.isConnected ? state.opener : deps.cellButton(id);
    state.opener = null;
    if (back) back.focus();
  }

  function onLog(msg) {
    if (!state.id || msg.build !== state.id || typeof msg.data !== 'string') return;
    if (msg.replay) {
      clear();
      const b = deps.build(state.id);
      // The replay is at most the last 256 KiB; say so when the log is longer.
      const bytes = new TextEncoder().encode(msg.data).length;
      if (b && b.log_bytes > bytes && bytes >= REPLAY_BYTES - 4096) ui.output.dataset.trimmed = 'true';
      ui.output.dataset.status = 'live';
      append(msg.data);
      scrollToEnd();
      return;
    }
    append(msg.data);
  }

  function onBuild(b) {
    if (b && b.id === state.id) render();
  }

  // The socket came back: subscriptions died with the old one, and the replay restarts the text.
  function onReconnect() {
    if (state.id) subscribe();
  }

  async function act(kind, button) {
    const id = state.id;
    ui.message.textContent = kind === 'cancel' ? 'Cancelling\u2026' : 'Retrying\u2026';
    const fresh = await deps.action(kind, id, button);
    if (state.id !== id) return;
    ui.message.textContent = '';
    if (fresh) {
      // Follow the retry: it is what the reader wants to watch now.
      open(fresh.id);
      ui.message.textContent = `Retry of #${id}.`;
    }
  }

  ui.close.addEventListener('click', close);
  ui.source.addEventListener('click', () => open(Number(ui.source.dataset.buildId)));
  ui.cancel.addEventListener('click', () => act('cancel', ui.cancel));
  ui.retry.addEventListener('click', () => act('retry', ui.retry));
  ui.follow.addEventListener('click', () => { scrollToEnd(); ui.output.focus(); });
  ui.output.addEventListener('scroll', () => { if (atBottom()) ui.follow.hidden = true; });
  ui.view.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); close(); }
  });

  return { open, close, onLog, onBuild, onReconnect, current: () => state.id };
};
