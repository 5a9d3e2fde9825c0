// server.js: the build_runner dashboard's server panel: executor, sandbox, cgroup, what is
// enforced, and each toolchain with its limits, from GET /api/toolchains (used by app.js,
// loaded first). Server strings reach the page only as text.
'use strict';

// Renders the Toolchains document `t` into the #server section; returns the toolchain names
// in the server's order.
window.BrServerPanel = function renderServerPanel(t) {
  const $ = (id) => document.getElementById(id);
  const str = (v) => (typeof v === 'string' ? v : '');
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const el = (tag, text) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  // 0 means "no limit" in every field.
  const bytes = (n) => {
    if (!n) return 'none';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (Number.isInteger(n) ? n : n.toFixed(1)) + ' ' + units[i];
  };
  const seconds = (s) => (s ? (s >= 120 && s % 60 === 0 ? s / 60 + ' min' : s + ' s') : 'none');
  const count = (n) => (n ? String(n) : 'none');

  const toolchains = Array.isArray(t.toolchains) ? t.toolchains : [];
  const names = toolchains.map((x) => str(x.name));
  const summary = $('server-summary');
  summary.textContent = [
    'executor ' + (str(t.executor) || '?'),
    'sandbox ' + (t.sandbox ? 'on' : 'OFF'),
    'cgroup ' + (str(t.cgroup) || 'none (rlimits only)'),
    num(t.concurrency) + ' builds at once',
  ].join(' \u00b7 ');
  summary.dataset.sandbox = t.sandbox ? 'on' : 'off';
  const note = $('server-note');
  note.textContent = str(t.note);
  note.hidden = !str(t.note);
  $('toolchains-summary').textContent = toolchains.length + ' toolchain' + (toolchains.length === 1 ? '' : 's') +
    ': ' + (names.join(', ') || 'none') + ' (limits)';

  $('toolchain-rows').replaceChildren(...toolchains.map((tc) => {
    const l = tc.limits || {};
    const tr = el('tr');
    const name = el('th', str(tc.name));
    name.scope = 'row';
    name.title = (Array.isArray(tc.steps) ? tc.steps : []).map((s) => str(s.name) + ': ' + str(s.run)).join('\n');
    const cells = [bytes(num(l.memory_bytes)), count(num(l.cpus)), seconds(num(l.wall_s)),
      seconds(num(l.no_output_s)), count(num(l.max_processes)), bytes(num(l.max_file_bytes)),
      bytes(num(l.tmp_bytes)), bytes(num(l.log_bytes))];
    tr.append(name, ...cells.map((c) => el('td', c)));
    return tr;
  }));

  // "memory:cgroup" -> "memory (cgroup)"
  const enforced = (Array.isArray(t.enforced) ? t.enforced : []).map(str).filter(Boolean)
    .map((e) => (e.includes(':') ? e.replace(':', ' (') + ')' : e));
  $('enforced').textContent = 'Enforced here: ' + (enforced.join(', ') || 'nothing');
  return names;
};
