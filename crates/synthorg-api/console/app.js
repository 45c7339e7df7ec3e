// The synthorg operator console: a few pages over the JSON API, signed in with an API key
// kept in this tab's sessionStorage. Every string from the API reaches the page as text
// (textContent, never HTML), and the Content-Security-Policy admits this file only.
'use strict';

const KEY = 'synthorg.console.key';
const REFRESH_MS = 5000;
const session = { key: sessionStorage.getItem(KEY), role: null, id: null };
let refreshTimer = null;

// An element with attributes and children; strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { authorization: 'Bearer ' + session.key };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch('/api/v1' + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit', redirect: 'error',
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (response.status === 401) {
    signOut('The key was refused (revoked or unknown). Sign in again.');
    throw new ApiError(401, 'signed out');
  }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : 'HTTP ' + response.status;
    throw new ApiError(response.status, message);
  }
  return data;
}

const fmt = {
  // Cents always, thousands separated; amounts under a dollar to four places (a model call).
  usd: (n) => (typeof n === 'number'
    ? '$' + n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: n !== 0 && Math.abs(n) < 1 ? 4 : 2 })
    : '—'),
  pct: (n) => (typeof n === 'number' ? n.toFixed(1) + ' %' : '—'),
  time: (s) => (s ? new Date(s).toLocaleString() : '—'),
};

function pill(text, kind) {
  return el('span', { class: 'pill' + (kind ? ' ' + kind : ''), text });
}

function table(headers, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty', text: empty });
  return el('div', { class: 'scroll' },
    el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', { text: h })))),
      el('tbody', {}, rows)));
}

// The non-zero entries of a map of counts (`GET /overview`), largest first, and their sum.
function nonZero(counts) {
  return Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
}
function total(counts) {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

// Every page of a list (the API pages by cursor), up to `max` items.
async function all(path, max = 5000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', path + sep + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

const isAdmin = () => session.role === 'admin';

// The burn rate the answering server measured: over 24 hours, else the last hour.
function burn(budget) {
  const rate = budget.burn_rate_24h ?? budget.burn_rate_1h;
  if (typeof rate !== 'number') return 'not measured yet (a sample a minute)';
  return fmt.usd(rate) + ' per hour (' + (budget.burn_rate_24h !== null && budget.burn_rate_24h !== undefined ? '24 h' : 'last hour') + ')';
}

// ---- pages ----------------------------------------------------------------------------

const pages = {
  async overview() {
    // Counts come from the store's maintained totals (`GET /overview`): the same cost for
    // ten agents or ten thousand, refreshed every few seconds.
    const [overview, budget, latest] = await Promise.all([
      api('GET', '/overview'), api('GET', '/budget/status'), api('GET', '/audit?order=desc&limit=10'),
    ]);
    const verdictKind = { allow: 'ok', deny: 'bad', escalate: 'warn' };
    const recent = latest.items;
    const used = budget.total_monthly > 0 ? budget.used_percent : null;
    return [
      el('h1', { text: 'Overview' }),
      el('div', { class: 'cards' },
        el('div', { class: 'card' }, el('div', { class: 'figure', text: total(overview.agents) }), el('div', { class: 'label', text: 'agents' }),
          el('div', {}, nonZero(overview.agents).map(([s, n]) => [pill(s + ' ' + n, s === 'active' ? 'ok' : ''), ' ']))),
        el('div', { class: 'card' }, el('div', { class: 'figure', text: total(overview.tasks) }), el('div', { class: 'label', text: 'tasks' }),
          el('div', {}, nonZero(overview.tasks).map(([s, n]) => [pill(s + ' ' + n), ' ']))),
        el('div', { class: 'card', id: 'budget-card' },
          el('div', { class: 'figure', text: fmt.usd(budget.period_spend) }),
          el('div', { class: 'label', text: budget.total_monthly > 0
            ? 'spent of ' + fmt.usd(budget.total_monthly) + ' this period (' + fmt.pct(used) + ')'
            : 'spent this period (no monthly budget set)' }),
          used === null ? null : el('div', { class: 'meter' }, el('span', { style: null, 'data-width': Math.min(100, used) })),
          el('div', {}, pill('alert ' + budget.alert_level, budget.alert_level === 'normal' ? 'ok' : 'warn'), ' ',
            el('span', { class: 'label', text: 'today ' + fmt.usd(budget.today_spend) })),
          el('div', { class: 'label', id: 'forecast' }, 'forecast for the period ' + fmt.usd(budget.forecast_period_spend)
            + (budget.total_monthly > 0 && budget.forecast_period_spend > budget.total_monthly ? ' (over budget)' : '')),
          el('div', { class: 'label', id: 'burn' }, 'burn rate ' + burn(budget))),
        el('div', { class: 'card', id: 'verdicts' }, el('div', { class: 'figure', text: total(overview.verdicts) }),
          el('div', { class: 'label', text: 'security verdicts' }),
          el('div', {}, nonZero(overview.verdicts).map(([v, n]) => [pill(v + ' ' + n, verdictKind[v]), ' ']))),
        el('a', { class: 'card', href: '#/approvals' }, el('div', { class: 'figure', text: overview.pending_approvals }),
          el('div', { class: 'label', text: 'approvals waiting for a decision' }))),
      el('h2', { text: 'Recent audit events' }),
      auditTable(recent),
    ];
  },

  async agents() {
    const agents = await all('/agents');
    return [
      el('h1', { text: 'Agents' }),
      table(['Name', 'Role', 'Department', 'Status', 'Trust', 'Registered'], agents.map((a) =>
        el('tr', { 'data-agent': a.id }, el('td', {}, link('#/agents/' + a.id, a.name)), el('td', { text: a.role }),
          el('td', { text: a.department || '—' }),
          el('td', {}, pill(a.status, a.status === 'active' ? 'ok' : a.status === 'terminated' ? 'bad' : '')),
          el('td', { text: a.trust_level }), el('td', { text: fmt.time(a.created_at) }))), 'No agent is registered.'),
    ];
  },

  async agent(id) {
    const [agent, tasks, costs, budget] = await Promise.all([
      api('GET', '/agents/' + encodeURIComponent(id)), all('/tasks?assigned_to=' + encodeURIComponent(id), 1000),
      api('GET', '/costs?order=desc&limit=50&agent_id=' + encodeURIComponent(id)), api('GET', '/budget/status'),
    ]);
    const today = (budget.agents || []).find((a) => a.agent_id === id);
    const spent = costs.items.reduce((sum, c) => sum + c.cost, 0);
    return [
      el('p', {}, link('#/agents', '← Agents')),
      el('h1', { text: agent.name }),
      el('div', { class: 'cards' },
        field('Role', agent.role), field('Department', agent.department || '—'),
        field('Status', agent.status), field('Trust level', agent.trust_level),
        field('Spent today', today ? fmt.usd(today.today_spend) : fmt.usd(0)),
        field('Tokens today', today ? String(today.today_tokens) : '0'),
        field('Allowed tools', agent.allowed_tools.length ? agent.allowed_tools.join(', ') : 'any the policy allows'),
        field('Denied tools', agent.denied_tools.length ? agent.denied_tools.join(', ') : 'none')),
      el('h2', { text: 'Tasks assigned (' + tasks.length + ')' }),
      taskTable(tasks),
      el('h2', { text: 'Latest model calls (' + costs.items.length + ', ' + fmt.usd(spent) + ')' }),
      table(['When', 'Provider', 'Model', 'Tokens in', 'Tokens out', 'Cost', 'Source'], costs.items.slice().reverse().map((c) =>
        el('tr', {}, el('td', { text: fmt.time(c.occurred_at) }), el('td', { text: c.provider }), el('td', { text: c.model }),
          el('td', { text: c.input_tokens }), el('td', { text: c.output_tokens }), el('td', { text: fmt.usd(c.cost) }),
          el('td', { text: c.cost_source }))), 'No model call reported.'),
    ];
  },

  async tasks() {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const status = params.get('status') || '';
    // The newest tasks, and the counts of them all from the maintained totals (not from the
    // page shown, which holds at most 2,000).
    const [tasks, agents, overview] = await Promise.all([
      all('/tasks?order=desc' + (status ? '&status=' + encodeURIComponent(status) : ''), 2000), all('/agents'),
      api('GET', '/overview'),
    ]);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const select = el('select', { name: 'status', id: 'task-status', onchange: (e) => {
      location.hash = '#/tasks' + (e.target.value ? '?status=' + encodeURIComponent(e.target.value) : '');
    } }, ['', 'created', 'assigned', 'in_progress', 'in_review', 'completed', 'blocked', 'failed', 'interrupted', 'cancelled']
      .map((s) => el('option', { value: s, text: s || 'every status', selected: s === status })));
    return [
      el('h1', { text: 'Tasks' }), el('div', { class: 'inline' }, select,
        el('span', { class: 'label', text: tasks.length + ' shown, newest first' })),
      el('h2', { text: 'By status' }),
      el('div', {}, nonZero(overview.tasks).map(([s, n]) => [pill(s + ' ' + n), ' '])),
      el('h2', { text: 'Tasks' }),
      taskTable(tasks, names),
    ];
  },

  async task(id) {
    const [task, history, agents] = await Promise.all([
      api('GET', '/tasks/' + encodeURIComponent(id)), all('/tasks/' + encodeURIComponent(id) + '/transitions'), all('/agents'),
    ]);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const agentLink = (agentId) => (agentId ? link('#/agents/' + agentId, names.get(agentId) || agentId) : '—');
    return [
      el('p', {}, link('#/tasks', '← Tasks')),
      el('h1', { text: task.title }),
      task.description ? el('p', { text: task.description }) : null,
      el('div', { class: 'cards' },
        field('Status', task.status), el('div', { class: 'card' }, el('div', { class: 'label', text: 'Assigned to' }), agentLink(task.assigned_to)),
        field('Created by', task.created_by), field('Version', String(task.version)),
        field('Created', fmt.time(task.created_at)), field('Updated', fmt.time(task.updated_at))),
      el('h2', { text: 'History' }),
      table(['When', 'From', 'To', 'Assigned to', 'By', 'Reason'], history.map((h) => el('tr', {},
        el('td', { text: fmt.time(h.at) }), el('td', { text: h.from }), el('td', { text: h.to }),
        el('td', {}, agentLink(h.assigned_to)), el('td', { class: 'mono', text: h.by }), el('td', { text: h.reason || '' }))),
      'No transition yet.'),
    ];
  },

  async costs() {
    const budget = await api('GET', '/budget/status');
    const since = budget.period.start;
    const [costs, agents] = await Promise.all([all('/costs?since=' + encodeURIComponent(since), 20000), all('/agents')]);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const sum = (key) => {
      const groups = new Map();
      for (const c of costs) {
        const k = key(c);
        const g = groups.get(k) || { calls: 0, input: 0, output: 0, cost: 0 };
        g.calls += 1; g.input += c.input_tokens; g.output += c.output_tokens; g.cost += c.cost;
        groups.set(k, g);
      }
      return [...groups.entries()].sort((a, b) => b[1].cost - a[1].cost);
    };
    const cells = (g) => [el('td', { text: g.calls }), el('td', { text: g.input }), el('td', { text: g.output }),
      el('td', { text: fmt.usd(g.cost) })];
    const total = costs.reduce((s, c) => s + c.cost, 0);
    return [
      el('h1', { text: 'Costs' }),
      el('p', { class: 'label', text: costs.length + (costs.length === 1 ? ' model call' : ' model calls') + ' since ' + fmt.time(since) + ', ' + fmt.usd(total)
        + (costs.length >= 20000 ? ' (the first 20,000 of the period)' : '') }),
      el('h2', { text: 'By agent' }),
      table(['Agent', 'Calls', 'Tokens in', 'Tokens out', 'Cost'], sum((c) => c.agent_id).map(([id, g]) =>
        el('tr', {}, el('td', {}, link('#/agents/' + id, names.get(id) || id)), cells(g))), 'No model call this period.'),
      el('h2', { text: 'By model' }),
      table(['Provider', 'Model', 'Calls', 'Tokens in', 'Tokens out', 'Cost'], sum((c) => c.provider + '\u0000' + c.model).map(([k, g]) =>
        el('tr', {}, el('td', { text: k.split('\u0000')[0] }), el('td', { text: k.split('\u0000')[1] }), cells(g))),
      'No model call this period.'),
    ];
  },

  async approvals() {
    const [pending, decided, agents] = await Promise.all([
      all('/approvals?status=pending'), api('GET', '/approvals?status=approved&order=desc&limit=20'), all('/agents'),
    ]);
    const names = new Map(agents.map((a) => [a.id, a.name]));
    const rejected = await api('GET', '/approvals?status=rejected&order=desc&limit=20');
    const rows = pending.map((a) => el('tr', { 'data-approval': a.id },
      el('td', { text: fmt.time(a.created_at) }), el('td', { text: names.get(a.agent_id) || a.agent_id }),
      el('td', { text: a.tool }), el('td', { text: a.action_type }), el('td', {}, pill(a.risk_level, 'warn')),
      el('td', { text: a.reason }),
      el('td', {}, isAdmin() ? decisionForm(a) : el('span', { class: 'label', text: 'read-only' }))));
    const done = [...decided.items, ...rejected.items]
      .sort((x, y) => String(y.decided_at).localeCompare(String(x.decided_at))).slice(0, 20);
    return [
      el('h1', { text: 'Approvals' }),
      el('h2', { text: 'Waiting for a decision' }),
      table(['Asked', 'Agent', 'Tool', 'Action', 'Risk', 'Why', ''], rows, 'Nothing is waiting for a decision.'),
      el('h2', { text: 'Decided lately' }),
      table(['Decided', 'Tool', 'Action', 'Decision', 'By', 'Note'], done.map((a) => el('tr', {},
        el('td', { text: fmt.time(a.decided_at) }), el('td', { text: a.tool }), el('td', { text: a.action_type }),
        el('td', {}, pill(a.status, a.status === 'approved' ? 'ok' : 'bad')), el('td', { class: 'mono', text: a.decided_by || '—' }),
        el('td', { text: a.decision_note || '' }))), 'No decision yet.'),
    ];
  },

  async audit() {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const query = new URLSearchParams();
    for (const name of ['action', 'actor', 'target_id']) if (params.get(name)) query.set(name, params.get(name));
    const head = await api('GET', '/audit/head');
    let events;
    if ([...query.keys()].length === 0) {
      events = (await api('GET', '/audit?order=desc&limit=100')).items;
    } else {
      events = (await all('/audit?' + query.toString(), 2000)).reverse();
    }
    const filter = el('form', { class: 'inline', id: 'audit-filter', onsubmit: (e) => {
      e.preventDefault();
      const form = new FormData(e.target);
      const next = new URLSearchParams();
      for (const [k, v] of form.entries()) if (String(v).trim()) next.set(k, String(v).trim());
      location.hash = '#/audit' + (next.toString() ? '?' + next.toString() : '');
    } },
    el('input', { name: 'action', placeholder: 'action (e.g. approval.decided)', value: params.get('action') || '' }),
    el('input', { name: 'actor', placeholder: 'actor (key:… or system)', value: params.get('actor') || '' }),
    el('input', { name: 'target_id', placeholder: 'target id', value: params.get('target_id') || '' }),
    el('button', { type: 'submit', text: 'Filter' }));
    return [
      el('h1', { text: 'Audit' }),
      el('p', { class: 'label', text: 'The chain holds ' + head.seq + ' events; head ' + head.hash.slice(0, 16) + '…' }),
      filter, el('h2', { text: [...query.keys()].length ? 'Matching events, newest first' : 'Latest events, newest first' }),
      auditTable(events),
    ];
  },

  async keys() {
    if (!isAdmin()) return [el('h1', { text: 'Keys' }), el('p', { text: 'Managing keys needs an admin key.' })];
    const keys = await all('/keys');
    const form = el('form', { class: 'inline', id: 'key-form', onsubmit: createKey },
      el('select', { name: 'role' }, ['viewer', 'admin', 'agent'].map((r) => el('option', { value: r, text: r }))),
      el('input', { name: 'label', placeholder: 'label', maxlength: 200 }),
      el('input', { name: 'agent_id', placeholder: 'agent id (agent keys)' }),
      el('button', { type: 'submit', text: 'Create key' }));
    return [
      el('h1', { text: 'Keys' }), form,
      table(['Id', 'Role', 'Label', 'Agent', 'Created', 'State', ''], keys.map((k) => el('tr', { 'data-key': k.id },
        el('td', { class: 'mono', text: k.id }), el('td', { text: k.role }), el('td', { text: k.label }),
        el('td', { class: 'mono', text: k.agent_id || '—' }), el('td', { text: fmt.time(k.created_at) }),
        el('td', {}, k.revoked_at ? pill('revoked', 'bad') : pill('active', 'ok')),
        el('td', {}, k.revoked_at || k.id === session.id ? null
          : el('button', { type: 'button', class: 'danger', 'data-revoke': k.id, text: 'Revoke', onclick: () => revokeKey(k) })))),
      'No key.'),
    ];
  },
};

// An in-console link: only `#/…` addresses, never one taken from data.
function link(hash, text) {
  return el('a', { href: hash.startsWith('#/') ? hash : '#/overview', text });
}

function field(label, value) {
  return el('div', { class: 'card' }, el('div', { class: 'label', text: label }), el('div', { text: value }));
}

function taskTable(tasks, names) {
  return table(['Title', 'Status', 'Assigned to', 'Updated'], tasks.map((t) => el('tr', { 'data-task': t.id },
    el('td', {}, link('#/tasks/' + t.id, t.title)), el('td', {}, pill(t.status)),
    el('td', { text: t.assigned_to ? (names && names.get(t.assigned_to)) || t.assigned_to : '—' }),
    el('td', { text: fmt.time(t.updated_at) }))), 'No task.');
}

function auditTable(events) {
  return table(['Seq', 'When', 'Actor', 'Action', 'Target'], events.map((e) => el('tr', { 'data-seq': e.seq },
    el('td', { text: e.seq }), el('td', { text: fmt.time(e.at) }), el('td', { class: 'mono', text: e.actor }),
    el('td', { text: e.action }), el('td', { class: 'mono', text: e.target_type + ' ' + e.target_id }))), 'No audit event.');
}

function decisionForm(approval) {
  const note = el('input', { name: 'note', placeholder: 'note (optional)', maxlength: 1000 });
  const decide = (decision) => async () => {
    try {
      await api('POST', '/approvals/' + encodeURIComponent(approval.id) + '/decision',
        note.value.trim() ? { decision, note: note.value.trim() } : { decision });
      await show();
    } catch (error) { flash(error.message); }
  };
  return el('div', { class: 'inline' }, note,
    el('button', { type: 'button', 'data-decide': 'approve', text: 'Approve', onclick: decide('approve') }), ' ',
    el('button', { type: 'button', class: 'danger', 'data-decide': 'reject', text: 'Reject', onclick: decide('reject') }));
}

async function createKey(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { role: form.get('role'), label: String(form.get('label') || '') };
  if (String(form.get('agent_id') || '').trim()) body.agent_id = String(form.get('agent_id')).trim();
  try {
    const created = await api('POST', '/keys', body);
    // The secret stays on screen, through every refresh, until the operator dismisses it:
    // nobody else will ever see it again.
    notify('notice', el('p', { text: 'Key ' + created.id + ' (' + created.role + ') created. Copy it now: it is shown this once.' }),
      el('div', { class: 'secret', id: 'new-secret', text: created.key }));
    await show();
  } catch (error) { flash(error.message); }
}

async function revokeKey(key) {
  if (!window.confirm('Revoke key ' + key.id + ' (' + (key.label || key.role) + ')?')) return;
  try { await api('DELETE', '/keys/' + encodeURIComponent(key.id)); await show(); } catch (error) { flash(error.message); }
}

// Notices live outside the refreshed page: a one-time secret or an error stays until the
// operator dismisses it (or signs out), however many refreshes pass.
const notices = [];

function notify(kind, ...content) {
  notices.push({ kind, content });
  renderNotices();
}

function renderNotices() {
  const box = document.getElementById('notices');
  box.replaceChildren(...notices.map((n) => el('div', { class: n.kind, role: n.kind === 'error' ? 'alert' : null },
    ...n.content,
    el('button', { type: 'button', class: 'dismiss', text: 'Dismiss', onclick: () => {
      notices.splice(notices.indexOf(n), 1);
      renderNotices();
    } }))));
}

function flash(message) {
  notify('error', el('p', { text: message }));
}

// ---- frame ----------------------------------------------------------------------------

// `#/page`, `#/page?filters` or `#/agents/<id>` and `#/tasks/<id>` (the detail pages).
function currentPage() {
  const [name, id] = location.hash.replace(/^#\//, '').split('?')[0].split('/');
  const details = { agents: 'agent', tasks: 'task' };
  if (id && details[name]) return { name: details[name], section: name, id: decodeURIComponent(id) };
  const known = Object.prototype.hasOwnProperty.call(pages, name || '') && !Object.values(details).includes(name);
  return known ? { name, section: name } : { name: 'overview', section: 'overview' };
}

async function show() {
  const { name, section, id } = currentPage();
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('current', a.dataset.page === section);
    a.hidden = a.hasAttribute('data-admin') && !isAdmin();
  }
  const page = document.getElementById('page');
  try {
    const content = await pages[name](id);
    // A refresh never takes away what the operator is typing.
    if (page.contains(document.activeElement) && document.activeElement.matches('input, select')) return;
    page.replaceChildren(...content);
    for (const bar of page.querySelectorAll('[data-width]')) bar.style.width = bar.dataset.width + '%';
    page.dataset.page = name;
  } catch (error) {
    if (error.status !== 401) page.replaceChildren(el('p', { class: 'error', role: 'alert', text: error.message }));
  }
}

function schedule() {
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => { if (!document.hidden && session.role) show(); }, REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  Object.assign(session, { key: null, role: null, id: null });
  notices.length = 0;
  renderNotices();
  clearInterval(refreshTimer);
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('who').textContent = '';
  document.getElementById('page').hidden = true;
  document.getElementById('page').replaceChildren();
  document.getElementById('signin').hidden = false;
  document.getElementById('signin-error').textContent = message || '';
}

async function signIn(key) {
  session.key = key;
  let who;
  try {
    who = await api('GET', '/keys/current');
  } catch (error) {
    if (error.status !== 401) signOut(error.message);
    return;
  }
  if (who.role === 'agent') {
    signOut('Agent keys cannot use the console: sign in with an admin or viewer key.');
    return;
  }
  sessionStorage.setItem(KEY, key);
  Object.assign(session, { role: who.role, id: who.id });
  document.getElementById('signin').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  document.getElementById('who').textContent = 'key ' + who.id + ' · ' + who.role + (who.role === 'viewer' ? ' (read-only)' : '');
  document.getElementById('page').hidden = false;
  await show();
  schedule();
}

// A one-time sign-in link (`serve --demo`) carries a token in the fragment, which is never
// sent with the page request; it is taken out of the address at once and exchanged, once, for
// the key made for this sign-in. True when the address was such a link.
function signInLink() {
  const token = new URLSearchParams(location.hash.replace(/^#/, '')).get('sign-in');
  if (!token) return false;
  history.replaceState(null, '', location.pathname + '#/overview');
  exchange(token);
  return true;
}

async function exchange(token) {
  try {
    const response = await fetch('/console/sign-in', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
      cache: 'no-store', credentials: 'omit', redirect: 'error',
    });
    const data = await response.json();
    if (!response.ok) { signOut(data && data.error ? data.error.message : 'HTTP ' + response.status); return; }
    await signIn(data.key);
  } catch (error) {
    signOut(error.message);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('key');
    const key = input.value.trim();
    input.value = '';
    if (key) signIn(key);
  });
  document.getElementById('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => {
    if (!signInLink() && session.role) show();
  });
  if (signInLink()) return;
  if (session.key) {
    signIn(session.key);
  } else {
    signOut();
  }
});
