// events.js: the build_runner dashboard's connection to the WebSocket /api/events, kept open
// with exponential backoff (used by app.js, loaded first). It shows its state in #conn-state
// and offers #reconnect-now while it waits.
'use strict';

// opts: url() -> the ws:// URL to open (asked again for each attempt); onOpen(); onMessage(obj)
// for each JSON object received; onClose(code) before a reconnect is scheduled.
window.BrEvents = function createEventSocket(opts) {
  const FIRST_MS = 1000;
  const MAX_MS = 15000;
  const STABLE_MS = 10000;           // an open socket this old resets the backoff

  const $ = (id) => document.getElementById(id);
  const ui = { state: $('conn-state'), text: $('conn-text'), now: $('reconnect-now') };
  let ws = null;
  let openedAt = 0;
  let backoffMs = FIRST_MS;
  let timer = 0;
  let countdown = 0;

  function show(kind, text) {
    ui.state.dataset.state = kind;
    ui.text.textContent = text;
    document.body.dataset.conn = kind;
  }

  function clearTimers() {
    clearTimeout(timer);
    clearInterval(countdown);
    timer = 0;
    countdown = 0;
  }

  function connect() {
    clearTimers();
    if (ws) return;
    ui.now.hidden = true;
    show('connecting', 'Connecting');
    let sock;
    try {
      sock = new WebSocket(opts.url());
    } catch (e) {
      console.warn('build_runner: cannot open the event socket:', e.message);
      schedule();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (sock !== ws) return;
      openedAt = Date.now();
      show('connected', 'Live');
      opts.onOpen();
    };
    sock.onmessage = (ev) => {
      if (sock !== ws || typeof ev.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg === 'object') opts.onMessage(msg);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      const openFor = openedAt ? Date.now() - openedAt : 0;
      ws = null;
      openedAt = 0;
      if (openFor >= STABLE_MS) backoffMs = FIRST_MS;
      opts.onClose(ev.code);
      schedule();
    };
  }

  function schedule() {
    clearTimers();
    const delay = backoffMs;
    backoffMs = Math.min(delay * 2, MAX_MS);
    const at = Date.now() + delay;
    const tick = () => show('reconnecting',
      'Offline, retrying in ' + Math.max(1, Math.ceil((at - Date.now()) / 1000)) + ' s');
    tick();
    countdown = setInterval(tick, 250);
    timer = setTimeout(connect, delay);
    ui.now.hidden = false;
  }

  // Drops the socket (if any) and connects again at once, e.g. with a new token in url().
  function reconnectNow() {
    backoffMs = FIRST_MS;
    if (ws) {
      const old = ws;
      ws = null;
      old.close();
    }
    connect();
  }

  ui.now.addEventListener('click', reconnectNow);

  return {
    connect,
    reconnectNow,
    // Sends `msg` as JSON; false while the socket is not open.
    send(msg) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(msg));
      return true;
    },
  };
};
