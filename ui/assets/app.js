// Gantry's dashboard: a page that works through the HTTP API, reached
// under the dashboard's own path (api/v1/...), and the dashboard's own
// endpoints (api/overview, api/jobs/{id}, api/workflows/{id}, api/push).
// No framework, no inline code: the page's Content-Security-Policy allows
// scripts and styles from its origin only.

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
  return fill(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

// svg is el for SVG elements.
function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

// fill sets n's attributes (on: event listeners) and appends children.
function fill(n, attrs, children) {
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
  let detail, wf = null;
  const load = async () => {
    detail = await api('/jobs/' + encodeURIComponent(id), { signal: ctl.signal });
    if (stopped) return;
    if (detail.workflow_id && !wf) {
      wf = workflowView(detail.workflow_id, id, ctl.signal);
      const prev = leave;
      leave = () => { prev(); wf.stop(); };
    }
    body.replaceChildren(...jobPage(detail, load, wf));
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

// jobPage draws the job; wf, when the job belongs to a workflow, is the
// workflow's view, kept (and refreshed on its own) across redraws.
function jobPage(j, reload, wf) {
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
    ['depends on', j.depends_on.length ? j.depends_on.map((d, i) => [i ? ', ' : '', jobLink(d)]) : '—'],
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
    wf ? wf.node : '',
  ];
}


// ---- a job's workflow, drawn as a graph ----

// Sizes of the graph, in pixels: a node, the gaps between layers (the
// columns) and between nodes of a layer, and the margin.
const NODE_W = 170, NODE_H = 42, GAP_X = 60, GAP_Y = 14, MARGIN = 10;

// workflowView shows workflow wid, with job current highlighted, and
// refreshes its states every POLL_MS until the workflow is final. Its node
// stays the same across redraws of the job page.
function workflowView(wid, current, signal) {
  const head = el('h2', {}, 'Workflow');
  const counts = el('p', { id: 'workflow-counts', class: 'muted' }, 'Loading…');
  const graph = el('div', { class: 'graph-wrap', id: 'workflow-graph-wrap' });
  const node = el('section', { id: 'workflow' }, head, counts, graph);
  let stopped = false, timer = 0, drawn = '';
  const tick = async () => {
    let wf;
    try {
      wf = await api('/workflows/' + encodeURIComponent(wid), { signal });
    } catch (e) {
      if (stopped || e.status === 401) return;
      counts.textContent = 'Workflow: ' + e.message;
      timer = setTimeout(tick, POLL_MS);
      return;
    }
    if (stopped) return;
    head.replaceChildren('Workflow ', wf.name ? wf.name + ' ' : '', el('code', {}, wf.id), ' ', stateBadge(wf.state));
    counts.replaceChildren(wf.total + ' jobs: ',
      ...STATES.filter((s) => wf.counts[s]).flatMap((s, i) => [i ? ', ' : '', el('span', { 'data-count': s }, wf.counts[s] + ' ' + s)]));
    if (wf.truncated) {
      drawn = '';
      graph.replaceChildren(el('p', { class: 'placeholder', id: 'workflow-truncated' },
        'The graph is drawn for workflows of at most ' + wf.max_jobs + ' jobs; this one has ' + wf.total + ': its counts by state are above.'));
    } else {
      // The same jobs: only their states change. Jobs spawned since (or
      // a first reading): draw it anew.
      const ids = wf.jobs.map((j) => j.id).join(',');
      if (ids !== drawn) {
        graph.replaceChildren(drawGraph(wf.jobs, current));
        drawn = ids;
      } else {
        for (const j of wf.jobs) setNodeState(graph.querySelector('[data-job="' + CSS.escape(j.id) + '"]'), j.state);
      }
    }
    node.setAttribute('data-updated', String(Date.now()));
    if (wf.state === 'running') timer = setTimeout(tick, POLL_MS);
  };
  tick();
  return { node, stop: () => { stopped = true; clearTimeout(timer); } };
}

// layout places the jobs in layers by the longest path from a root (a job
// no edge points to), and orders each layer by the mean position of the
// jobs pointing to its jobs, which keeps most edges short and few crossed.
// Edges run from a dependency to the job that depends on it, and from a
// child to its parent; those to jobs outside the workflow are left out.
function layout(jobs) {
  const ids = new Set(jobs.map((j) => j.id));
  const edges = [];
  for (const j of jobs) {
    for (const d of j.depends_on) if (ids.has(d)) edges.push({ from: d, to: j.id, kind: 'dep' });
    if (j.parent_id && ids.has(j.parent_id)) edges.push({ from: j.id, to: j.parent_id, kind: 'child' });
  }
  const preds = new Map(jobs.map((j) => [j.id, []]));
  const succs = new Map(jobs.map((j) => [j.id, []]));
  for (const e of edges) { preds.get(e.to).push(e.from); succs.get(e.from).push(e.to); }
  // Kahn's order: a job's layer is one past its deepest predecessor's.
  const indeg = new Map(jobs.map((j) => [j.id, preds.get(j.id).length]));
  const layer = new Map(jobs.map((j) => [j.id, 0]));
  const order = jobs.filter((j) => indeg.get(j.id) === 0).map((j) => j.id);
  for (let i = 0; i < order.length; i++) {
    const id = order[i];
    for (const s of succs.get(id)) {
      layer.set(s, Math.max(layer.get(s), layer.get(id) + 1));
      indeg.set(s, indeg.get(s) - 1);
      if (indeg.get(s) === 0) order.push(s);
    }
  }
  const layers = [];
  for (const j of jobs) (layers[layer.get(j.id)] ||= []).push(j.id);
  const index = new Map();
  layers.forEach((ids, l) => {
    if (l > 0) {
      const bary = (id) => {
        const ps = preds.get(id).filter((p) => index.has(p));
        return ps.length ? ps.reduce((n, p) => n + index.get(p), 0) / ps.length : Infinity;
      };
      const b = new Map(ids.map((id) => [id, bary(id)]));
      ids.sort((x, y) => b.get(x) - b.get(y));
    }
    ids.forEach((id, i) => index.set(id, i));
  });
  const tallest = Math.max(1, ...layers.map((ids) => ids.length));
  const height = 2 * MARGIN + tallest * NODE_H + (tallest - 1) * GAP_Y;
  const pos = new Map();
  layers.forEach((ids, l) => {
    const top = MARGIN + (height - 2 * MARGIN - (ids.length * NODE_H + (ids.length - 1) * GAP_Y)) / 2;
    ids.forEach((id, i) => pos.set(id, { x: MARGIN + l * (NODE_W + GAP_X), y: top + i * (NODE_H + GAP_Y) }));
  });
  const width = 2 * MARGIN + layers.length * NODE_W + (layers.length - 1) * GAP_X;
  return { pos, edges, width, height };
}

function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

// drawGraph draws the jobs as an SVG: a node per job (its ref, kind and
// state; a link to its page), an arrow per edge.
function drawGraph(jobs, current) {
  const { pos, edges, width, height } = layout(jobs);
  const root = svg('svg', {
    id: 'workflow-graph', class: 'graph', width, height, viewBox: '0 0 ' + width + ' ' + height,
    role: 'img', 'aria-label': 'the workflow\'s ' + jobs.length + ' jobs and ' + edges.length + ' edges',
  });
  root.append(svg('defs', {}, svg('marker', {
    id: 'wf-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto',
  }, svg('path', { d: 'M0,0L10,5L0,10z', class: 'wf-arrowhead' }))));
  const lines = svg('g', { class: 'wf-edges' });
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
    lines.append(svg('path', {
      class: 'wf-edge wf-edge-' + e.kind, 'data-from': e.from, 'data-to': e.to, 'marker-end': 'url(#wf-arrow)',
      d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
    }));
  }
  root.append(lines);
  for (const j of jobs) {
    const p = pos.get(j.id);
    const label = j.ref || j.id;
    const n = svg('a', {
      href: '#/jobs/' + encodeURIComponent(j.id), class: 'wf-node' + (j.id === current ? ' current' : ''),
      'data-job': j.id, transform: `translate(${p.x},${p.y})`,
    },
    svg('title', {}, label + ' (' + j.kind + '): ' + j.state + ', job ' + j.id),
    svg('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
    svg('text', { x: 8, y: 17, class: 'wf-ref' }, clip(label, 24)),
    svg('text', { x: 8, y: 33, class: 'wf-kind' }, clip(j.kind, 16) + ' · ', svg('tspan', { class: 'wf-state' }, j.state)));
    setNodeState(n, j.state);
    root.append(n);
  }
  return root;
}

function setNodeState(n, state) {
  if (!n || n.dataset.state === state) return;
  if (n.dataset.state) n.classList.remove('state-' + n.dataset.state);
  n.classList.add('state-' + state);
  n.dataset.state = state;
  const t = n.querySelector('.wf-state');
  if (t) t.textContent = state;
  const title = n.querySelector('title');
  if (title) title.textContent = title.textContent.replace(/: [a-z]+, job /, ': ' + state + ', job ');
}

// ---- push targets: their limits and signals, sparklines over the last
// HISTORY readings ----

const pushHistory = new Map(); // target name -> { last, limit, inflight, latency, overloads }

function recordPush(t, readAt) {
  const at = Date.parse(readAt) / 1000;
  let h = pushHistory.get(t.name);
  if (!h) { h = { last: null, limit: [], inflight: [], latency: [], overloads: [] }; pushHistory.set(t.name, h); }
  if (h.last && h.last.at === at) return h;
  // The mean latency of the pushes that ended since the last reading (at
  // the first, since the node started); with none, the last mean holds.
  // A restart of the node resets the counts: a count that goes down says
  // nothing.
  let latency = null, overloads = 0;
  const since = h.last || { requests: 0, latency: 0, overloads: 0 };
  const n = t.requests - since.requests;
  if (n > 0) latency = (t.latency_seconds - since.latency) / n;
  if (h.last) overloads = Math.max(0, t.overloads - h.last.overloads) / (at - h.last.at);
  const push = (k, v) => { h[k].push(v); if (h[k].length > HISTORY) h[k].shift(); };
  push('limit', t.limit);
  push('inflight', t.in_flight);
  push('latency', latency ?? (h.latency.length ? h.latency[h.latency.length - 1] : 0));
  push('overloads', overloads);
  h.last = { at, requests: t.requests, latency: t.latency_seconds, overloads: t.overloads };
  return h;
}

// sparkline draws series as a line across a small SVG (the readings so
// far, up to HISTORY), scaled to top (at least the series' largest value).
function sparkline(series, top) {
  const w = 220, h = 44;
  const max = Math.max(top || 0, ...series, 1e-9);
  const pts = series.map((v, i) => (w * (series.length > 1 ? i / (series.length - 1) : 0)).toFixed(1) + ',' + (h - 2 - (h - 4) * v / max).toFixed(1));
  return svg('svg', { class: 'spark', width: w, height: h, viewBox: '0 0 ' + w + ' ' + h, 'data-samples': series.length },
    svg('line', { x1: 0, y1: h - 2, x2: w, y2: h - 2, class: 'spark-base' }),
    svg('polyline', { points: pts.join(' '), class: 'spark-line' }));
}

function signalBox(label, metric, value, series, top) {
  return el('div', { class: 'signal', 'data-metric': metric },
    el('div', { class: 'muted' }, label), el('div', { class: 'big', 'data-value': '' }, value), sparkline(series, top));
}

async function pushPage() {
  const list = el('div', { id: 'push-targets' }, el('p', { class: 'muted' }, 'Loading…'));
  show(el('h1', {}, 'Push targets'),
    el('p', { class: 'muted' }, 'On the node serving this page; read every ' + POLL_MS / 1000 + ' s, the charts keep the last ' + HISTORY + ' readings.'),
    list);
  let timer = 0, stopped = false;
  leave = () => { stopped = true; clearTimeout(timer); };
  const tick = async () => {
    try {
      const res = await api('/push');
      if (stopped) return;
      if (!res.targets.length) {
        list.replaceChildren(el('p', { class: 'placeholder', id: 'push-empty' }, 'No push targets configured.'));
      } else {
        list.replaceChildren(...res.targets.map((t) => {
          const h = recordPush(t, res.read_at);
          const lat = h.latency[h.latency.length - 1];
          return el('section', { class: 'push-target', 'data-target': t.name },
            el('h2', {}, el('code', {}, t.name)),
            el('p', { class: 'muted' }, 'queue ', el('code', {}, t.queue), ' → ', el('code', {}, t.url),
              ', concurrency ' + t.min + '–' + t.max + ', ' + t.requests + ' pushes, ' + t.overloads + ' overloads'),
            el('div', { class: 'signals' },
              signalBox('Concurrency limit', 'limit', t.limit, h.limit, t.max),
              signalBox('In flight', 'in-flight', t.in_flight, h.inflight, t.max),
              signalBox('Mean latency', 'latency', t.requests ? (lat * 1000).toFixed(1) + ' ms' : '—', h.latency),
              signalBox('Overloads', 'overloads', h.overloads[h.overloads.length - 1].toFixed(2) + '/s', h.overloads)));
        }));
      }
      main.setAttribute('data-updated', String(Date.now()));
    } catch (e) {
      if (e.status === 401 || stopped) return;
      say('Push targets: ' + e.message, true);
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  };
  await tick();
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

// ---- routing: #/, #/jobs?..., #/jobs/{id}, #/enqueue, #/push ----

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
  else if (path === '/push') { nav = 'push'; pushPage(); }
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
