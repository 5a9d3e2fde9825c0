// client.js: the mud_server browser client. Speaks docs/mud-protocol.md over one WebSocket at
// /ws on the page's own host: every message is ["cmdname", [args...], {kwargs...}].
// Server data only ever reaches the page through textContent, dataset and attribute setters,
// never innerHTML.
'use strict';

(() => {
  const MAX_LINES = 2000;            // output lines kept in the DOM
  const HISTORY_MAX = 200;           // input history entries kept
  const PING_MS = 20000;
  const WHO_MS = 30000;
  const BACKOFF_FIRST_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const STABLE_MS = 10000;           // an open connection this old resets the backoff
  const ROOM_TEXT_WINDOW_MS = 300;   // see roomGroup()
  const TOKEN_KEY = 'mud.token';
  const HISTORY_KEY = 'mud.history';
  const TEXT_TYPES = new Set(['info', 'system', 'error', 'room', 'say', 'emote', 'tell',
    'channel', 'combat', 'help', 'announce']);
  const LOGIN_ERRORS = new Set(['login_failed', 'name_taken', 'bad_name', 'bad_password',
    'throttled', 'banned', 'server_busy']);
  const SECRET_RE = /^(\s*(?:connect|create)\s+\S+\s+)\S.*$/i;
  const LOGIN_CMD_RE = /^\s*(?:connect|create)\b/i;
  const WHO_TEXT_RE = /^\d+ players? online/;
  const EXITS_TEXT_RE = /^\s*(?:obvious\s+)?exits?\b/i;

  const $ = (id) => document.getElementById(id);
  const ui = {
    output: $('output'), input: $('input'), commandForm: $('command-form'),
    jumpBottom: $('jump-bottom'),
    loginForm: $('login-form'), loginName: $('login-name'), loginPassword: $('login-password'),
    loginConnect: $('login-connect'), loginCreate: $('login-create'), loginMessage: $('login-message'),
    status: $('status'), statusName: $('status-name'), statusHpBar: $('status-hp-bar'),
    statusHpFill: $('status-hp-fill'), statusHpText: $('status-hp-text'),
    statusRoom: $('status-room'), statusCombat: $('status-combat'),
    connState: $('conn-state'), connText: $('conn-text'), connDetail: $('conn-detail'),
    latency: $('latency'), reconnectNow: $('reconnect-now'), panelToggle: $('panel-toggle'),
    roomName: $('room-name'), exits: $('exits'), players: $('players'), npcs: $('npcs'),
    items: $('items'), channels: $('channels'), channelsAvailable: $('channels-available'),
    who: $('who'), whoCount: $('who-count'), whoRefresh: $('who-refresh'),
  };

  const state = {
    ws: null,
    openedAt: 0,
    everConnected: false,
    outageNoted: false,
    gotBye: false,
    loggedIn: false,
    resuming: false,
    name: '',
    token: storageGet(TOKEN_KEY),
    backoffMs: BACKOFF_FIRST_MS,
    reconnectTimer: 0,
    countdownTimer: 0,
    pingTimer: 0,
    whoTimer: 0,
    pending: [],                     // messages typed while the socket was down
    whoAsked: 0,                     // out-of-band who requests not yet answered
    swallowWhoText: false,           // see onRaw()
    room: null,                      // the last `room` kwargs, kept current by enter/leave
    group: null,                     // see roomGroup()
    history: loadHistory(),
    historyIndex: 0,
    draft: '',
    unread: 0,
    pageTitle: document.title,       // as in index.html
    baseTitle: document.title,       // with the character's name once logged in
  };
  state.historyIndex = state.history.length;

  // ---------------------------------------------------------------- storage

  function storageGet(key) {
    try { return sessionStorage.getItem(key); } catch { return null; }
  }
  function storageSet(key, value) {
    try {
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch { /* storage disabled: resume just won't survive a reload */ }
  }
  function loadHistory() {
    try {
      const h = JSON.parse(storageGet(HISTORY_KEY) || '[]');
      return Array.isArray(h) ? h.filter((s) => typeof s === 'string').slice(-HISTORY_MAX) : [];
    } catch { return []; }
  }
  function setToken(token) {
    state.token = token;
    storageSet(TOKEN_KEY, token);
  }

  // ---------------------------------------------------------------- output

  function isAtBottom() {
    const o = ui.output;
    return o.scrollHeight - o.scrollTop - o.clientHeight < 8;
  }

  // Appends `node` to the output, trims the scrollback and scrolls only if the reader was
  // already at the bottom (someone reading history must not be yanked down).
  function appendOutput(node) {
    const stick = isAtBottom();
    ui.output.appendChild(node);
    while (ui.output.childElementCount > MAX_LINES) {
      const first = ui.output.firstElementChild;
      const h = stick ? 0 : first.offsetHeight;
      first.remove();
      if (h) ui.output.scrollTop -= h;
    }
    if (stick) ui.output.scrollTop = ui.output.scrollHeight;
    else ui.jumpBottom.hidden = false;
    return node;
  }

  function makeLine(text, cls) {
    const div = document.createElement('div');
    div.className = 'line ' + cls;
    div.textContent = text;
    return div;
  }

  function addLine(text, cls) {
    return appendOutput(makeLine(text, cls));
  }

  function note(text) {                    // the client's own messages
    return addLine(text, 't-client');
  }

  function capitalise(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }

  // ---------------------------------------------------------------- connection

  function setConn(kind, text, detail) {
    ui.connState.dataset.state = kind;
    if (ui.connText.textContent !== text) ui.connText.textContent = text;
    ui.connDetail.textContent = detail || '';
    document.body.dataset.conn = kind;
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function clearReconnect() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    state.reconnectTimer = 0;
    state.countdownTimer = 0;
  }

  function connect() {
    clearReconnect();
    if (state.ws) return;
    ui.reconnectNow.hidden = true;
    setConn('connecting', 'Connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      note('Cannot open a connection: ' + e.message);
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.gotBye = false;
    ws.onopen = () => { if (ws === state.ws) onOpen(); };
    ws.onmessage = (ev) => { if (ws === state.ws) onRaw(ev.data); };
    ws.onclose = (ev) => { if (ws === state.ws) onClose(ev); };
  }

  function onOpen() {
    state.openedAt = Date.now();
    setConn('connected', 'Connected');
    if (state.outageNoted) note('Reconnected.');
    state.outageNoted = false;
    state.everConnected = true;
    // Resume must be the first thing the server hears after a reconnect or a reload.
    if (state.token) {
      state.resuming = true;
      hideLogin();
      sendNow(['resume', [state.token], {}]);
    } else if (!state.loggedIn) {
      showLogin();
    }
    const queued = state.pending.splice(0);
    for (const msg of queued) sendNow(msg);
    ping();
    requestWho();
    state.pingTimer = setInterval(ping, PING_MS);
    state.whoTimer = setInterval(requestWho, WHO_MS);
  }

  function onClose(ev) {
    const wasOpenFor = state.openedAt ? Date.now() - state.openedAt : 0;
    state.ws = null;
    state.openedAt = 0;
    clearInterval(state.pingTimer);
    clearInterval(state.whoTimer);
    state.whoAsked = 0;
    state.swallowWhoText = false;
    ui.latency.textContent = '';
    state.loggedIn = false;
    state.resuming = false;
    setLoginBusy(false);
    document.body.dataset.login = 'out';
    if (wasOpenFor >= STABLE_MS) state.backoffMs = BACKOFF_FIRST_MS;
    // After `bye` (quit, kick, ban, takeover, idle, shutdown) reconnecting on our own would
    // fight the server (a takeover would bounce between two tabs), so the user decides.
    if (state.gotBye || ev.code === 1008) {
      setConn('closed', 'Disconnected');
      ui.reconnectNow.textContent = 'Reconnect';
      ui.reconnectNow.hidden = false;
      showLogin();
      return;
    }
    if (!state.outageNoted && state.everConnected) {
      note('Connection lost. Reconnecting\u2026');
      state.outageNoted = true;
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    clearReconnect();
    const delay = state.backoffMs;
    state.backoffMs = Math.min(delay * 2, BACKOFF_MAX_MS);
    const at = Date.now() + delay;
    const tick = () => {
      const s = Math.max(1, Math.ceil((at - Date.now()) / 1000));
      setConn('reconnecting', 'Reconnecting', ' in ' + s + 's');
    };
    tick();
    state.countdownTimer = setInterval(tick, 250);
    state.reconnectTimer = setTimeout(connect, delay);
    ui.reconnectNow.textContent = 'Reconnect now';
    ui.reconnectNow.hidden = false;
  }

  function isOpen() {
    return state.ws !== null && state.ws.readyState === WebSocket.OPEN;
  }

  function sendNow(msg) {
    if (!isOpen()) return false;
    state.ws.send(JSON.stringify(msg));
    return true;
  }

  // Game input survives a short outage: it is queued and sent after the resume.
  function send(msg) {
    if (sendNow(msg)) return;
    if (state.pending.length < 20) state.pending.push(msg);
    if (!state.ws && !state.reconnectTimer) connect();
  }

  function sendText(line) {
    send(['text', [line], {}]);
  }

  function ping() {
    sendNow(['ping', [], { t: Date.now() }]);
  }

  function requestWho() {
    if (sendNow(['who', [], {}])) state.whoAsked++;
  }

  function onRaw(data) {
    if (typeof data !== 'string') return;
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!Array.isArray(msg) || msg.length !== 3 || typeof msg[0] !== 'string' ||
        !Array.isArray(msg[1]) || msg[2] === null || typeof msg[2] !== 'object' ||
        Array.isArray(msg[2])) {
      return;
    }
    // The protocol answers an out-of-band who with a `who` message only, but the server also
    // sends the list as text right after it; the periodic refresh must not fill the output.
    const swallow = state.swallowWhoText;
    state.swallowWhoText = false;
    if (swallow && msg[0] === 'text' && WHO_TEXT_RE.test(str(msg[1][0]))) return;
    if (msg[0] === 'who' && state.whoAsked > 0) {
      state.whoAsked--;
      state.swallowWhoText = true;
    }
    const handler = handlers.get(msg[0]);
    if (handler) handler(msg[1], msg[2]);
  }

  // ---------------------------------------------------------------- message handlers

  const str = (v) => (typeof v === 'string' ? v : '');
  const strList = (v) => (Array.isArray(v) ? v.filter((s) => typeof s === 'string') : []);

  const handlers = new Map([
    ['text', onText],
    ['logged_in', onLoggedIn],
    ['room', onRoom],
    ['room_enter', onRoomEnter],
    ['room_leave', onRoomLeave],
    ['status', onStatus],
    ['who', onWho],
    ['channels', onChannels],
    ['error', onError],
    ['pong', onPong],
    ['bye', onBye],
  ]);

  function onText(args, kw) {
    const type = str(kw.type) || 'info';
    const cls = 't-' + (TEXT_TYPES.has(type) ? type : 'info');
    const from = str(kw.from);
    const group = type === 'room' ? roomGroup('text') : null;
    if (group) {
      group.gotText = true;
      if (group.block) group.block.remove();   // the server described the room itself
      group.block = null;
    }
    for (const arg of args) {
      if (typeof arg !== 'string') continue;
      const line = makeLine('', cls);
      // The speaker's name is set off when the line starts with it ("Amber says, ...").
      if (from && arg.startsWith(from)) {
        const who = document.createElement('span');
        who.className = 'speaker';
        who.textContent = from;
        line.append(who, arg.slice(from.length));
      } else {
        line.textContent = arg;
      }
      line.dataset.type = type;
      for (const key of ['from', 'to', 'msg', 'channel']) {
        if (typeof kw[key] === 'string') line.dataset[key] = kw[key];
      }
      appendOutput(line);
      if (group && EXITS_TEXT_RE.test(arg)) {
        if (!group.exits) {
          group.exitsText = line;                 // decided when the room message comes
        } else if (linkifyExits(line, group.exits) && group.exitsLine) {
          group.exitsLine.remove();
          group.exitsLine = null;
        }
      }
    }
    // Our exits line follows the description, whichever came first.
    if (group && group.exitsLine) appendOutput(group.exitsLine);
    if (document.hidden && (type === 'tell' || type === 'say' || type === 'announce')) {
      state.unread++;
      document.title = '(' + state.unread + ') ' + state.baseTitle;
    }
  }

  function onLoggedIn(_args, kw) {
    state.loggedIn = true;
    state.resuming = false;
    state.name = str(kw.name);
    state.backoffMs = BACKOFF_FIRST_MS;
    const token = str(kw.token);
    if (/^[0-9a-fA-F]{64}$/.test(token)) setToken(token);
    document.body.dataset.login = 'in';
    document.body.dataset.resumed = kw.resumed === true ? 'true' : 'false';
    document.body.dataset.admin = kw.admin === true ? 'true' : 'false';
    ui.loginPassword.value = '';
    setLoginBusy(false);
    hideLogin();
    if (kw.resumed === true) note('Session resumed as ' + state.name + '.');
    else fillList(ui.channels, ['global'], 0);   // everyone starts on global
    state.baseTitle = state.name + ' \u2014 ' + state.pageTitle;
    document.title = state.baseTitle;
    state.unread = 0;
    ui.input.focus();
    requestWho();
  }

  function onRoom(_args, kw) {
    state.room = {
      id: str(kw.id),
      name: str(kw.name),
      desc: str(kw.desc),
      exits: strList(kw.exits),
      players: strList(kw.players),
      more_players: Number.isInteger(kw.more_players) ? kw.more_players : 0,
      npcs: strList(kw.npcs),
      items: strList(kw.items),
    };
    renderRoomPanel();
    const group = roomGroup('room');
    group.exits = state.room.exits;
    group.textFirst = group.gotText;
    if (!group.gotText) group.block = appendOutput(makeRoomBlock(state.room));
    if (!group.exitsText || !linkifyExits(group.exitsText, group.exits)) {
      group.exitsLine = appendOutput(makeExitsLine(group.exits));
    }
  }

  // A `look` sends the room both as a `room` message and as `text` lines of type room, and
  // they arrive together (one server tick) in either order. A room group ties the two
  // together: without server text the room's name and description are rendered from the
  // message; with it, our copy is removed (before it is ever painted) and the server's
  // "Exits: ..." line gets the clickable buttons instead of a line of our own.
  //
  // `kind` is what is joining: 'room' (the message) or 'text' (room-type text). A group holds
  // one room message; room text after a completed group belongs to the next room when this
  // server sends the text before the message.
  function roomGroup(kind) {
    const now = performance.now();
    const g = state.group;
    if (!g || now - g.at > ROOM_TEXT_WINDOW_MS || (g.exits && (kind === 'room' || g.textFirst))) {
      state.group = {
        at: now, exits: null, gotText: false, textFirst: false,
        block: null, exitsLine: null, exitsText: null,
      };
    }
    return state.group;
  }

  function makeRoomBlock(room) {
    const block = document.createElement('div');
    block.className = 'line room-block';
    const title = document.createElement('div');
    title.className = 'room-title';
    title.textContent = room.name;
    block.append(title);
    if (room.desc) {
      const desc = document.createElement('div');
      desc.className = 't-room';
      desc.textContent = room.desc;
      block.append(desc);
    }
    return block;
  }

  // Turns the exit names in a server line such as "Exits: north, east." into buttons.
  // Returns whether it found any.
  function linkifyExits(line, exits) {
    if (!exits.length) return false;
    const text = line.textContent;
    const escaped = exits.map((d) => d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const re = new RegExp('\\b(' + escaped.join('|') + ')\\b', 'g');
    const nodes = [];
    let last = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      nodes.push(text.slice(last, m.index), makeExitButton(m[1]));
      last = m.index + m[1].length;
    }
    if (!nodes.length) return false;
    nodes.push(text.slice(last));
    line.replaceChildren(...nodes);
    return true;
  }

  function makeExitButton(dir) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'exit';
    b.dataset.dir = dir;
    b.textContent = dir;
    b.title = 'Go ' + dir;
    return b;
  }

  function makeExitsLine(exits) {
    const line = makeLine('', 't-exits');
    const label = document.createElement('span');
    label.textContent = exits.length ? 'Exits: ' : 'There are no exits.';
    line.append(label);
    for (const dir of exits) line.append(makeExitButton(dir), ' ');
    return line;
  }

  function fillList(ul, names, more) {
    ul.replaceChildren();
    for (const name of names) {
      const li = document.createElement('li');
      li.textContent = name;
      li.dataset.name = name;
      ul.append(li);
    }
    if (more > 0) {
      const li = document.createElement('li');
      li.className = 'more';
      li.textContent = 'and ' + more + ' more';
      ul.append(li);
    }
  }

  function renderRoomPanel() {
    const r = state.room;
    ui.roomName.textContent = r.name;
    ui.roomName.dataset.roomId = r.id;
    ui.exits.replaceChildren(...r.exits.map(makeExitButton));
    fillList(ui.players, r.players, r.more_players);
    fillList(ui.npcs, r.npcs, 0);
    fillList(ui.items, r.items, 0);
  }

  const COMPASS = new Set(['north', 'south', 'east', 'west', 'northeast', 'northwest',
    'southeast', 'southwest']);

  function arrivePhrase(dir) {
    if (!dir) return '';
    if (dir === 'up') return ' from above';
    if (dir === 'down') return ' from below';
    if (dir === 'in') return ' from inside';
    if (dir === 'out') return ' from outside';
    return ' from the ' + dir;
  }

  function leavePhrase(dir) {
    if (!dir) return '';
    if (COMPASS.has(dir) || dir === 'up' || dir === 'down' || dir === 'in' || dir === 'out') {
      return ' ' + dir;
    }
    return ' through the ' + dir;
  }

  function movementLine(event, name, kind, dir, text) {
    const line = addLine(text, 't-move');
    line.dataset.event = event;
    line.dataset.name = name;
    line.dataset.kind = kind;
    line.dataset.dir = dir;
    return line;
  }

  function onRoomEnter(args, kw) {
    const name = str(args[0]);
    if (!name) return;
    const kind = kw.kind === 'npc' ? 'npc' : 'player';
    const from = str(kw.from);
    movementLine('enter', name, kind, from, capitalise(name) + ' arrives' + arrivePhrase(from) + '.');
    if (!state.room || name === state.name) return;
    const list = kind === 'npc' ? state.room.npcs : state.room.players;
    if (kind === 'npc' || !list.includes(name)) list.push(name);
    renderRoomPanel();
  }

  function onRoomLeave(args, kw) {
    const name = str(args[0]);
    if (!name) return;
    const kind = kw.kind === 'npc' ? 'npc' : 'player';
    const to = str(kw.to);
    movementLine('leave', name, kind, to, capitalise(name) + ' leaves' + leavePhrase(to) + '.');
    if (!state.room) return;
    const list = kind === 'npc' ? state.room.npcs : state.room.players;
    // NPCs are capitalised in enter/leave ("A rat leaves.") but not in `room` ("a rat").
    const i = kind === 'npc'
      ? list.findIndex((n) => n.toLowerCase() === name.toLowerCase())
      : list.indexOf(name);
    if (i >= 0) list.splice(i, 1);
    else if (kind === 'player' && state.room.more_players > 0) state.room.more_players--;
    renderRoomPanel();
  }

  function onStatus(_args, kw) {
    const hp = Number.isFinite(kw.hp) ? kw.hp : 0;
    const max = Number.isFinite(kw.max_hp) && kw.max_hp > 0 ? kw.max_hp : 0;
    const pct = max ? Math.max(0, Math.min(100, (hp / max) * 100)) : 0;
    ui.status.dataset.empty = 'false';
    ui.statusName.textContent = str(kw.name);
    ui.statusHpFill.style.width = pct + '%';
    ui.statusHpBar.dataset.level = pct <= 25 ? 'low' : pct <= 50 ? 'mid' : 'high';
    ui.statusHpBar.setAttribute('aria-valuemax', String(max));
    ui.statusHpBar.setAttribute('aria-valuenow', String(hp));
    ui.statusHpText.textContent = hp + '/' + max;
    ui.statusRoom.textContent = str(kw.room);
    const target = str(kw.combat);
    ui.statusCombat.hidden = !target;
    ui.statusCombat.textContent = target ? 'Fighting ' + target : '';
    ui.status.dataset.combat = target ? 'true' : 'false';
  }

  function formatIdle(s) {
    if (!Number.isFinite(s) || s < 60) return '';
    if (s < 3600) return Math.floor(s / 60) + 'm idle';
    return Math.floor(s / 3600) + 'h idle';
  }

  function onWho(_args, kw) {
    const players = Array.isArray(kw.players) ? kw.players : [];
    ui.who.replaceChildren();
    let shown = 0;
    for (const p of players) {
      if (!p || typeof p !== 'object' || typeof p.name !== 'string') continue;
      shown++;
      const li = document.createElement('li');
      li.dataset.name = p.name;
      const name = document.createElement('span');
      name.className = 'who-name';
      name.textContent = p.name;
      li.append(name);
      if (p.admin === true) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = 'admin';
        li.append(' ', badge);
      }
      const detail = [str(p.room), formatIdle(p.idle)].filter(Boolean).join(', ');
      if (detail) {
        const d = document.createElement('span');
        d.className = 'who-detail';
        d.textContent = detail;
        li.append(' ', d);
      }
      ui.who.append(li);
    }
    const count = Number.isInteger(kw.count) ? kw.count : shown;
    if (count > shown) {
      const li = document.createElement('li');
      li.className = 'more';
      li.textContent = 'and ' + (count - shown) + ' more';
      ui.who.append(li);
    }
    ui.whoCount.textContent = '(' + count + ')';
  }

  // The server also answers `channels`/`join`/`leave` in text, so this only fills the panel.
  function onChannels(_args, kw) {
    const joined = strList(kw.joined);
    fillList(ui.channels, joined, 0);
    ui.channelsAvailable.textContent = strList(kw.available).filter((c) => !joined.includes(c)).join(', ');
  }

  function onError(args, kw) {
    const code = str(kw.code);
    const text = str(args[0]) || code || 'error';
    const line = addLine(text, 't-error');
    line.dataset.type = 'error';
    if (code) line.dataset.code = code;
    if (code === 'resume_failed') {
      state.resuming = false;
      setToken(null);
      showLogin('Your previous session has ended. Please log in again.');
    } else if (LOGIN_ERRORS.has(code) && !state.loggedIn) {
      setLoginBusy(false);
      showLogin(text);
    } else if (code === 'not_logged_in' && !state.resuming) {
      showLogin();
    }
  }

  function onPong(_args, kw) {
    if (typeof kw.t !== 'number') return;
    const ms = Math.max(0, Date.now() - kw.t);
    ui.latency.textContent = ms + ' ms';
  }

  function onBye(args) {
    state.gotBye = true;
    state.loggedIn = false;
    setToken(null);   // quit, takeover and the rest void the token
    addLine('Disconnected by the server' + (str(args[0]) ? ': ' + args[0] : '') + '.', 't-system');
  }

  // ---------------------------------------------------------------- login form

  function showLogin(message) {
    if (state.loggedIn) return;
    const wasHidden = ui.loginForm.hidden;
    ui.loginForm.hidden = false;
    if (message !== undefined) ui.loginMessage.textContent = message;
    if (wasHidden && !ui.loginForm.contains(document.activeElement)) {
      (ui.loginName.value ? ui.loginPassword : ui.loginName).focus();
    }
  }

  function hideLogin() {
    ui.loginForm.hidden = true;
    ui.loginMessage.textContent = '';
  }

  function setLoginBusy(busy) {
    ui.loginConnect.disabled = busy;
    ui.loginCreate.disabled = busy;
    ui.loginForm.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  function validateLogin(name, password) {
    if (!/^[A-Za-z]{3,16}$/.test(name)) return 'A name is 3 to 16 letters (A\u2013Z only).';
    if (/\s/.test(password)) return 'A password cannot contain spaces.';
    const bytes = new TextEncoder().encode(password).length;
    if (bytes < 6) return 'A password has at least 6 characters.';
    if (bytes > 128) return 'A password has at most 128 bytes.';
    return '';
  }

  function submitLogin(verb) {
    const name = ui.loginName.value.trim();
    const password = ui.loginPassword.value;
    const problem = validateLogin(name, password);
    if (problem) {
      ui.loginMessage.textContent = problem;
      return;
    }
    ui.loginMessage.textContent = verb === 'create' ? 'Creating ' + name + '\u2026' : 'Logging in\u2026';
    setLoginBusy(true);
    echo(verb + ' ' + name + ' ' + password);
    sendText(verb + ' ' + name + ' ' + password);
  }

  // ---------------------------------------------------------------- input

  // The typed command, dimmed; passwords of connect/create never reach the screen.
  function echo(line) {
    const m = SECRET_RE.exec(line);
    addLine('> ' + (m ? m[1] + '******' : line), 't-echo');
  }

  function remember(line) {
    if (LOGIN_CMD_RE.test(line)) return;   // never keep passwords in history
    if (state.history[state.history.length - 1] !== line) {
      state.history.push(line);
      if (state.history.length > HISTORY_MAX) state.history.splice(0, state.history.length - HISTORY_MAX);
      storageSet(HISTORY_KEY, JSON.stringify(state.history));
    }
  }

  function submitCommand(line) {
    if (line.trim() === '') return;
    echo(line);
    remember(line);
    state.historyIndex = state.history.length;
    state.draft = '';
    sendText(line);
  }

  function browseHistory(step) {
    const h = state.history;
    const next = state.historyIndex + step;
    if (next < 0 || next > h.length) return;
    if (state.historyIndex === h.length) state.draft = ui.input.value;
    state.historyIndex = next;
    ui.input.value = next === h.length ? state.draft : h[next];
    const end = ui.input.value.length;
    ui.input.setSelectionRange(end, end);
  }

  function scrollToBottom() {
    ui.output.scrollTop = ui.output.scrollHeight;
    ui.jumpBottom.hidden = true;
  }

  function go(dir) {
    submitCommand(dir);
    if (!ui.loginForm.contains(document.activeElement)) ui.input.focus({ preventScroll: true });
  }

  // ---------------------------------------------------------------- wiring

  ui.commandForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const line = ui.input.value;
    ui.input.value = '';
    submitCommand(line);
    scrollToBottom();
    ui.input.focus();
  });

  ui.input.addEventListener('keydown', (e) => {
    if (e.isComposing) return;
    switch (e.key) {
      case 'ArrowUp': e.preventDefault(); browseHistory(-1); break;
      case 'ArrowDown': e.preventDefault(); browseHistory(1); break;
      case 'Escape': ui.input.value = ''; state.historyIndex = state.history.length; break;
      case 'PageUp': e.preventDefault(); ui.output.scrollTop -= ui.output.clientHeight * 0.9; break;
      case 'PageDown': e.preventDefault(); ui.output.scrollTop += ui.output.clientHeight * 0.9; break;
      default: break;
    }
  });

  ui.loginForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitLogin('connect');
  });
  ui.loginCreate.addEventListener('click', () => submitLogin('create'));

  // Exit buttons live in the side panel and in the output; one delegated handler for both.
  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button.exit[data-dir]') : null;
    if (b) go(b.dataset.dir);
  });

  ui.output.addEventListener('scroll', () => {
    if (isAtBottom()) ui.jumpBottom.hidden = true;
  });
  ui.jumpBottom.addEventListener('click', () => {
    scrollToBottom();
    ui.input.focus();
  });

  // A mouse click in the output (not a selection) gives the focus back to the input. Not on
  // touch: that would pop up the keyboard whenever the reader scrolls.
  ui.output.addEventListener('pointerup', (e) => {
    if (e.pointerType !== 'mouse') return;
    const sel = window.getSelection();
    if (sel && !sel.isCollapsed) return;
    if (e.target instanceof Element && e.target.closest('button')) return;
    ui.input.focus({ preventScroll: true });
  });

  // Typing anywhere outside a form field goes to the input.
  document.addEventListener('keydown', (e) => {
    const t = document.activeElement;
    if (e.ctrlKey || e.metaKey || e.altKey || e.key.length !== 1) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'BUTTON')) return;
    ui.input.focus();
  });

  ui.reconnectNow.addEventListener('click', () => {
    state.backoffMs = BACKOFF_FIRST_MS;
    connect();
  });

  ui.whoRefresh.addEventListener('click', requestWho);

  ui.panelToggle.addEventListener('click', () => {
    const open = document.body.classList.toggle('panel-open');
    ui.panelToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.unread) {
      state.unread = 0;
      document.title = state.baseTitle;
    }
  });

  // With a token we are about to resume: keep the login form out of sight until the server
  // says the token is no good.
  if (!state.token) showLogin();
  else ui.input.focus();
  connect();
})();
