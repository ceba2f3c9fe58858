// Gantry's dashboard: a page that works through the HTTP API, reached
// under the dashboard's own path (api/v1/...), and the dashboard's own
// endpoints (api/jobs/{id}). No framework, no inline code: the page's
// Content-Security-Policy allows scripts and styles from its origin only.

const TOKEN_KEY = 'gantry.token';
const STATES = ['scheduled', 'waiting', 'available', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'];
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const POLL_MS = 2000;
const HISTORY = 90;

const main = document.getElementById('main');
const notice = document.getElementById('notice');
const logout = document.getElementById('logout');

// leave stops what the current page runs (timers, streams) before the
// next one is drawn.
let leave = () => {};

// ---- the API ----

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

class Problem extends Error {
  constructor(status, detail, code) {
    super(detail || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
  }
}

function request(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = token();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(opts.json);
  }
  return fetch('api' + path, { method: opts.method || 'GET', headers, body, signal: opts.signal, cache: 'no-store' });
}

async function failure(res) {
  let p = {};
  try { p = await res.json(); } catch (e) { /* not a problem document */ }
  if (res.status === 401) showLogin(p.detail);
  return new Problem(res.status, p.detail || res.statusText, p.code);
}

async function api(path, opts) {
  const res = await request(path, opts);
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return null;
  return res.json();
}

// ---- small DOM helpers ----

function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, f] of Object.entries(v)) n.addEventListener(ev, f);
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

function stateBadge(s) { return el('span', { class: 'state state-' + s, 'data-state': s }, s); }

function jobLink(id) { return el('a', { href: '#/jobs/' + encodeURIComponent(id) }, el('code', {}, id)); }

function fmtTime(t) { return t ? new Date(t).toLocaleString() : '—'; }

function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return seconds.toFixed(1) + ' s';
  if (seconds < 3600) return (seconds / 60).toFixed(1) + ' min';
  return (seconds / 3600).toFixed(1) + ' h';
}

function pretty(raw) {
  if (raw === null || raw === undefined) return 'null';
  return JSON.stringify(raw, null, 2);
}

function say(text, isError) {
  notice.textContent = text;
  notice.className = isError ? 'error' : '';
  notice.hidden = !text;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

async function act(label, f) {
  try {
    await f();
    say(label + ': done', false);
    return true;
  } catch (e) {
    say(label + ': ' + e.message, true);
    return false;
  }
}

// ---- login ----

function showLogin(detail) {
  leave();
  leave = () => {};
  const frag = document.getElementById('login-template').content.cloneNode(true);
  show(frag);
  if (detail) say(detail, true);
  const form = document.getElementById('login');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value.trim());
    say('', false);
    route();
  });
  document.getElementById('token').focus();
  updateLogout();
}

function updateLogout() { logout.hidden = !token(); }

logout.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  updateLogout();
  say('Logged out: the token is forgotten.', false);
  showLogin();
});

// ---- charts: a line over the last HISTORY samples, drawn on a canvas ----

const history = { at: [], throughput: [], wait: [], last: null };

function chart(id, title, unit) {
  const canvas = el('canvas', { id: id + '-canvas', width: 560, height: 160, 'aria-label': title });
  const value = el('span', { class: 'muted', id: id + '-value' }, '—');
  return { node: el('div', { class: 'chart', id }, el('h2', {}, title, ' ', value)), canvas, value, unit };
}

function draw(c, series) {
  c.node.append(c.canvas);
  const ctx = c.canvas.getContext('2d');
  const w = c.canvas.width, h = c.canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#d9dee4';
  ctx.lineWidth = 1;
  ctx.strokeRect(pad, 4, w - pad - 4, h - pad - 4);
  const max = Math.max(1, ...series);
  ctx.fillStyle = '#65707c';
  ctx.font = '11px sans-serif';
  ctx.fillText(max.toFixed(max < 10 ? 1 : 0), 2, 14);
  ctx.fillText('0', 2, h - pad);
  if (series.length) {
    ctx.strokeStyle = '#2458c5';
    ctx.lineWidth = 2;
    ctx.beginPath();
    series.forEach((v, i) => {
      const x = pad + (w - pad - 6) * (HISTORY > 1 ? i / (HISTORY - 1) : 0);
      const y = h - pad - (h - pad - 8) * (v / max);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    const last = series[series.length - 1];
    c.value.textContent = last.toFixed(2) + ' ' + c.unit;
    c.node.setAttribute('data-last', String(last));
    c.node.setAttribute('data-samples', String(series.length));
  }
}

function record(queues, readAt) {
  const now = Date.parse(readAt) / 1000;
  // The same reading twice (two polls within a second) is one sample.
  if (history.last && history.last.at === now) return;
  let finished = 0, oldest = 0;
  for (const q of queues) {
    finished += (q.counts.succeeded || 0) + (q.counts.failed || 0) + (q.counts.cancelled || 0);
    if (q.oldest_available_at) oldest = Math.max(oldest, now - Date.parse(q.oldest_available_at) / 1000);
  }
  let rate = 0;
  if (history.last) {
    const dt = now - history.last.at;
    // Retention deletes finished jobs: a count that goes down says nothing.
    if (dt > 0) rate = Math.max(0, finished - history.last.finished) / dt;
  }
  if (history.last || history.at.length === 0) {
    history.at.push(now);
    history.throughput.push(rate);
    history.wait.push(oldest);
    for (const k of ['at', 'throughput', 'wait']) if (history[k].length > HISTORY) history[k].shift();
  }
  history.last = { at: now, finished };
}

// ---- pages ----

async function overview() {
  const cards = el('div', { class: 'cards' });
  const tput = chart('throughput', 'Throughput', 'jobs/s');
  const wait = chart('wait', 'Oldest available job', 's');
  const queues = el('div', { id: 'queues' });
  const nodes = el('div', { id: 'nodes' });
  show(el('h1', {}, 'Overview'), cards, el('div', { class: 'charts' }, tput.node, wait.node),
    el('h2', {}, 'Queues'), queues, el('h2', {}, 'Nodes'), nodes);
  let timer = 0, stopped = false;
  leave = () => { stopped = true; clearTimeout(timer); };
  const tick = async () => {
    try {
      // One answer with the queues and the nodes, read by the server at
      // most once a second however many pages poll it.
      const ov = await api('/overview');
      if (stopped) return;
      record(ov.queues, ov.read_at);
      drawOverview(cards, queues, nodes, ov.queues, ov);
      draw(tput, history.throughput);
      draw(wait, history.wait);
      main.setAttribute('data-updated', String(Date.now()));
    } catch (e) {
      if (e.status === 401 || stopped) return;
      say('Overview: ' + e.message, true);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

function drawOverview(cards, queuesNode, nodesNode, queues, nl) {
  const sum = (st) => queues.reduce((n, q) => n + (q.counts[st] || 0), 0);
  const paused = queues.filter((q) => q.paused).map((q) => q.name);
  const serving = nl.nodes ? nl.nodes.length : null;
  cards.replaceChildren(
    card('Available', sum('available'), 'available-total'),
    card('Running', sum('running'), 'running-total'),
    card('Oldest available', fmtAge(oldestAge(queues)), 'oldest-age'),
    card('Paused queues', paused.length ? paused.join(', ') : 'none', 'paused'),
    card('Nodes serving', serving === null ? '—' : serving, 'nodes-serving'),
  );
  const head = el('tr', {}, el('th', {}, 'queue'), STATES.map((s) => el('th', { class: 'num' }, s)),
    el('th', {}, 'oldest available'), el('th', { class: 'num' }, 'drain rate'), el('th', {}, ''));
  const now = Date.now() / 1000;
  const rows = queues.map((q) => el('tr', { 'data-queue': q.name },
    el('td', {}, el('a', { href: '#/jobs?queue=' + encodeURIComponent(q.name) }, q.name), q.paused ? ' ' : '', q.paused ? el('span', { class: 'state' }, 'paused') : ''),
    STATES.map((s) => el('td', { class: 'num', 'data-count': s }, q.counts[s] || 0)),
    el('td', {}, q.oldest_available_at ? fmtAge(now - Date.parse(q.oldest_available_at) / 1000) : '—'),
    el('td', { class: 'num' }, q.drain_rate === null || q.drain_rate === undefined ? '—' : q.drain_rate.toFixed(2) + '/s'),
    el('td', {}, el('button', {
      class: 'secondary', 'data-action': q.paused ? 'resume' : 'pause',
      on: { click: () => pauseQueue(q.name, !q.paused) },
    }, q.paused ? 'Resume' : 'Pause')),
  ));
  queuesNode.replaceChildren(queues.length ? el('table', {}, el('thead', {}, head), el('tbody', {}, rows)) : el('p', { class: 'muted' }, 'No queues yet.'));
  if (!nl.nodes) {
    nodesNode.replaceChildren(el('p', { class: 'muted' }, 'Nodes: ' + (nl.error || 'unknown')));
    return;
  }
  nodesNode.replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, el('th', {}, 'node'), el('th', {}, 'started'), el('th', {}, 'last heartbeat'), el('th', { class: 'num' }, 'workers'), el('th', { class: 'num' }, 'running'))),
    el('tbody', {}, nl.nodes.map((n) => el('tr', { 'data-node': n.id },
      el('td', {}, el('code', {}, n.id)), el('td', {}, fmtTime(n.started_at)), el('td', {}, fmtTime(n.heartbeat_at)),
      el('td', { class: 'num' }, n.workers ?? '—'), el('td', { class: 'num' }, n.running ?? '—'))))));
}

// oldestAge is how long the oldest available job of any queue has waited
// by now, in seconds, or null when none is available.
function oldestAge(queues) {
  const now = Date.now() / 1000;
  let age = null;
  for (const q of queues) {
    if (q.oldest_available_at) age = Math.max(age ?? 0, now - Date.parse(q.oldest_available_at) / 1000);
  }
  return age;
}

function card(label, value, id) {
  return el('div', { class: 'card', id }, el('div', { class: 'muted' }, label), el('div', { class: 'big' }, value));
}

async function pauseQueue(name, pause) {
  const verb = pause ? 'pause' : 'resume';
  await act((pause ? 'Pause ' : 'Resume ') + name, () => api('/v1/queues/' + encodeURIComponent(name) + '/' + verb, { method: 'POST' }));
}

async function jobs(params) {
  const state = params.get('state') || '', kind = params.get('kind') || '', queue = params.get('queue') || '';
  const cursor = params.get('cursor') || '';
  const stateSel = el('select', { name: 'state', id: 'filter-state' }, el('option', { value: '' }, 'any'),
    STATES.map((s) => el('option', { value: s, selected: s === state }, s)));
  const kindIn = el('input', { name: 'kind', id: 'filter-kind', value: kind, placeholder: 'any' });
  const queueIn = el('input', { name: 'queue', id: 'filter-queue', value: queue, placeholder: 'any' });
  const form = el('form', { class: 'filters', id: 'filters' },
    el('label', {}, 'state', stateSel), el('label', {}, 'kind', kindIn), el('label', {}, 'queue', queueIn),
    el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if (stateSel.value) p.set('state', stateSel.value);
    if (kindIn.value.trim()) p.set('kind', kindIn.value.trim());
    if (queueIn.value.trim()) p.set('queue', queueIn.value.trim());
    location.hash = '#/jobs' + (p.size ? '?' + p : '');
  });
  const list = el('div', { id: 'job-list' }, el('p', { class: 'muted' }, 'Loading…'));
  show(el('h1', {}, 'Jobs'), form, list);
  const q = new URLSearchParams({ limit: '50' });
  if (state) q.set('state', state);
  if (kind) q.set('kind', kind);
  if (queue) q.set('queue', queue);
  if (cursor) q.set('cursor', cursor);
  let page;
  try {
    page = await api('/v1/jobs?' + q);
  } catch (e) {
    if (e.status !== 401) list.replaceChildren(el('p', { class: 'error' }, e.message));
    return;
  }
  const rows = page.jobs.map((j) => el('tr', { 'data-job': j.id },
    el('td', {}, jobLink(j.id)), el('td', {}, j.kind), el('td', {}, j.queue), el('td', {}, stateBadge(j.state)),
    el('td', { class: 'num' }, j.attempt + '/' + j.max_attempts),
    el('td', {}, j.progress ? j.progress.percent + '%' : ''), el('td', {}, fmtTime(j.created_at))));
  const pager = el('div', { class: 'pager' });
  if (cursor) {
    const first = new URLSearchParams(q);
    first.delete('cursor'); first.delete('limit');
    pager.append(el('a', { href: '#/jobs' + (first.size ? '?' + first : '') }, 'First page'));
  }
  if (page.next_cursor) {
    const next = new URLSearchParams(q);
    next.delete('limit');
    next.set('cursor', page.next_cursor);
    pager.append(el('a', { href: '#/jobs?' + next, id: 'next-page' }, 'Next page'));
  }
  list.replaceChildren(page.jobs.length
    ? el('table', {}, el('thead', {}, el('tr', {}, ['id', 'kind', 'queue', 'state', 'attempt', 'progress', 'created'].map((h) => el('th', {}, h)))), el('tbody', {}, rows))
    : el('p', { class: 'muted' }, 'No jobs match.'), pager);
}

async function job(id) {
  const body = el('div', { id: 'job' }, el('p', { class: 'muted' }, 'Loading…'));
  show(body);
  const ctl = new AbortController();
  let stopped = false, timer = 0;
  leave = () => { stopped = true; ctl.abort(); clearTimeout(timer); };
  let detail;
  const load = async () => {
    detail = await api('/jobs/' + encodeURIComponent(id), { signal: ctl.signal });
    if (!stopped) body.replaceChildren(...jobPage(detail, load));
  };
  try {
    await load();
  } catch (e) {
    if (e.status !== 401 && !stopped) body.replaceChildren(el('h1', {}, 'Job'), el('p', { class: 'error' }, e.message));
    return;
  }
  // Follow the job live until it is final: its event stream (which the
  // server counts against its stream limits), or polling when the server
  // has no stream to spare.
  const follow = async () => {
    while (!stopped && !FINAL.has(detail.state)) {
      try {
        await stream(id, ctl.signal, (type, res) => {
          // A state event that changes nothing shown (the stream's first
          // event is the job as it is) draws nothing: reloading the page
          // then could draw an older progress over a newer one.
          if (type === 'progress') updateProgress(res);
          else if (res.state !== detail.state || res.attempt !== detail.attempt) load().catch(() => {});
        });
      } catch (e) {
        if (stopped || e.status === 401) return;
      }
      if (stopped) return;
      await new Promise((r) => { timer = setTimeout(r, POLL_MS); });
      try { await load(); } catch (e) { if (e.status === 401) return; }
    }
  };
  follow();
}

// stream reads the job's Server-Sent Events with fetch, so that the
// token goes in a header (EventSource cannot send one).
async function stream(id, signal, onEvent) {
  const res = await request('/v1/jobs/' + encodeURIComponent(id) + '/events', { signal, headers: { Accept: 'text/event-stream' } });
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message', data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (data) onEvent(type, JSON.parse(data));
    }
  }
}

function updateProgress(res) {
  const bar = document.getElementById('progress');
  const msg = document.getElementById('progress-message');
  if (!bar || !res.progress) return;
  bar.value = res.progress.percent;
  bar.textContent = res.progress.percent + '%';
  msg.textContent = res.progress.percent + '% ' + (res.progress.message || '');
}

function jobPage(j, reload) {
  const actions = el('div', { class: 'actions' });
  if (!FINAL.has(j.state)) {
    actions.append(el('button', { class: 'danger', id: 'cancel', on: { click: async () => {
      if (await act('Cancel', () => api('/v1/jobs/' + encodeURIComponent(j.id) + '/cancel', { method: 'POST', json: { reason: 'cancelled from the dashboard' } }))) reload();
    } } }, 'Cancel'));
  }
  if (j.state === 'failed' || j.state === 'cancelled') {
    actions.append(el('button', { id: 'retry', on: { click: async () => {
      if (await act('Retry', () => api('/v1/jobs/' + encodeURIComponent(j.id) + '/retry', { method: 'POST' }))) reload();
    } } }, 'Retry'));
  }
  const pct = j.progress ? j.progress.percent : 0;
  const progress = el('div', {},
    el('progress', { id: 'progress', max: 100, value: pct }, pct + '%'), ' ',
    el('span', { id: 'progress-message' }, j.progress ? pct + '% ' + (j.progress.message || '') : 'no progress reported'));
  const pairs = [
    ['kind', j.kind], ['queue', el('a', { href: '#/jobs?queue=' + encodeURIComponent(j.queue) }, j.queue)],
    ['state', stateBadge(j.state)], ['attempt', j.attempt + ' of ' + j.max_attempts], ['priority', j.priority],
    ['created', fmtTime(j.created_at)], ['run at', fmtTime(j.run_at)], ['started', fmtTime(j.started_at)],
    ['finished', fmtTime(j.finished_at)], ['unique key', j.unique_key || '—'],
    ['parent', j.parent_id ? jobLink(j.parent_id) : '—'],
    ['depends on', j.depends_on.length ? j.depends_on.map(jobLink) : '—'],
    ['cancel reason', j.cancel_reason || '—'],
  ];
  const fields = el('dl', { class: 'fields' }, pairs.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const attempts = j.attempts.length
    ? j.attempts.map((a) => el('div', { class: 'attempt' }, el('div', {}, 'attempt ' + a.attempt + ' at ' + fmtTime(a.at) + ': ', el('strong', {}, a.message)),
      a.stack ? el('pre', {}, a.stack) : ''))
    : [el('p', { class: 'muted' }, 'No failed attempts.')];
  let blob = el('p', { class: 'muted' }, 'No payload.');
  if (j.blob) {
    blob = el('p', {}, el('button', { class: 'secondary', id: 'blob', on: { click: () => download(j) } }, 'Download payload'),
      ' ', j.blob.content_type, ', ', j.blob.size, ' bytes, sha256 ', el('code', {}, j.blob.sha256));
  }
  return [
    el('h1', {}, 'Job ', el('code', {}, j.id), ' ', stateBadge(j.state)),
    actions, progress, el('h2', {}, 'Fields'), fields,
    el('h2', {}, 'Args'), el('pre', { id: 'args' }, pretty(j.args)),
    el('h2', {}, 'Payload'), blob,
    el('h2', {}, 'Result'), el('pre', { id: 'result' }, pretty(j.result)),
    el('h2', {}, 'Checkpoint'), el('pre', { id: 'checkpoint' }, pretty(j.checkpoint)),
    el('h2', {}, 'Failed attempts'), el('div', { id: 'attempts' }, attempts),
    workflow(j),
  ];
}

// workflow is where the job's workflow graph goes once jobs belong to
// workflows (a job resource with a workflow_id); until then it draws
// nothing.
function workflow(j) {
  if (!j.workflow_id) return '';
  return el('section', { id: 'workflow' }, el('h2', {}, 'Workflow'), el('p', { class: 'placeholder' }, 'Workflow ', el('code', {}, j.workflow_id)));
}

async function download(j) {
  await act('Download', async () => {
    const res = await request('/v1/jobs/' + encodeURIComponent(j.id) + '/blob');
    if (!res.ok) throw await failure(res);
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: j.id });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}

function enqueue() {
  const kind = el('input', { id: 'enqueue-kind', required: true, placeholder: 'thumbnail' });
  const queue = el('input', { id: 'enqueue-queue', placeholder: 'default' });
  const priority = el('input', { id: 'enqueue-priority', type: 'number', min: 1, max: 9, placeholder: 'the queue\'s default' });
  const args = el('textarea', { id: 'enqueue-args' });
  args.value = '{}';
  const form = el('form', { class: 'enqueue', id: 'enqueue' },
    el('label', { for: 'enqueue-kind' }, 'kind'), kind,
    el('label', { for: 'enqueue-queue' }, 'queue'), queue,
    el('label', { for: 'enqueue-priority' }, 'priority'), priority,
    el('label', { for: 'enqueue-args' }, 'args (a JSON object)'), args,
    el('p', {}, el('button', { type: 'submit' }, 'Enqueue')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let parsed;
    try { parsed = JSON.parse(args.value); } catch (e) { say('args: ' + e.message, true); return; }
    const req = { kind: kind.value.trim(), args: parsed };
    if (priority.value) req.priority = Number(priority.value);
    if (queue.value.trim()) req.queue = queue.value.trim();
    let created;
    if (await act('Enqueue', async () => { created = await api('/v1/jobs', { method: 'POST', json: req }); })) {
      location.hash = '#/jobs/' + encodeURIComponent(created.id);
    }
  });
  show(el('h1', {}, 'Enqueue a job'), form);
}

// ---- routing: #/, #/jobs?..., #/jobs/{id}, #/enqueue ----

function route() {
  leave();
  leave = () => {};
  updateLogout();
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  let nav = 'overview';
  if (path.startsWith('/jobs/')) { nav = 'jobs'; job(decodeURIComponent(path.slice(6))); }
  else if (path === '/jobs') { nav = 'jobs'; jobs(params); }
  else if (path === '/enqueue') { nav = 'enqueue'; enqueue(); }
  else overview();
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === nav);
}

document.getElementById('search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = document.getElementById('search-id').value.trim();
  if (id) location.hash = '#/jobs/' + encodeURIComponent(id);
});
window.addEventListener('hashchange', () => { say('', false); route(); });
route();
