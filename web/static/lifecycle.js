// jitaccess UI: the access lifecycle screens — My access (active and
// scheduled activations, end, extend, administrators' view of others) and
// History (the audit trail). Kept apart from app.js so that the original's
// screens stay as they were. Same rules: no inline script, every value
// from the API goes in with textContent.
//
// Navigation is by URL fragment: #my-access and #history show these
// screens; anything else shows app.js's. body[data-view] drives the CSS
// that hides the other screens, so app.js needs no changes to make room.
//
// Stable hooks for browser tests:
//   #nav-my-access, #nav-history, #myaccess-table (tr[data-testid=grant-row]
//   [data-role][data-resource][data-status], button.end-button,
//   button.extend-button, select.extend-minutes), #myaccess-notice,
//   #end-dialog, #end-confirm, #myaccess-user, #myaccess-all,
//   #myaccess-show, #history-table (tr[data-testid=history-row]
//   [data-event][data-kind]), #history-more, #history-user, #history-kind.

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};

async function call(method, path, body) {
  const headers = { 'X-JITACCESS': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw Object.assign(new Error('The server could not be reached. Check your connection and try again.'), { status: 0 });
  }
  let data = null;
  try { data = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    throw Object.assign(new Error((data && data.message) || response.statusText || 'The request failed'), { status: response.status });
  }
  return data;
}

const lifecycleApi = {
  activations(q) { return call('GET', `/api/activations${q}`); },
  end(id) { return call('POST', '/api/activations/end', { id }); },
  extend(id, activationTimeout) { return call('POST', '/api/activations/extend', { id, activationTimeout }); },
  history(q) { return call('GET', `/api/history?${q}`); },
  policy() { return call('GET', '/api/policy'); },
};

const ls = { policy: null, query: '', historyToken: '', historyQuery: '' };

function showError(err) {
  const box = $('#error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = `${err.message}${err.status ? ` (HTTP ${err.status})` : ''}`;
  box.hidden = false;
}

function announce(text) { $('#status').textContent = text; }

function minutesText(m) {
  const d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), min = m % 60;
  const parts = [];
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (min || parts.length === 0) parts.push(`${min} min`);
  return parts.join(' ');
}

function localTime(iso) { return iso ? new Date(iso).toLocaleString() : ''; }

// ---- Navigation -------------------------------------------------------------

function route() {
  const view = window.location.hash === '#my-access' ? 'my-access'
    : window.location.hash === '#history' ? 'history' : '';
  document.body.dataset.view = view;
  $('#myaccess-view').hidden = view !== 'my-access';
  $('#history-view').hidden = view !== 'history';
  for (const [id, v] of [['#nav-activate', ''], ['#nav-my-access', 'my-access'], ['#nav-history', 'history']]) {
    if (view === v) $(id).setAttribute('aria-current', 'page'); else $(id).removeAttribute('aria-current');
  }
  showError(null);
  if (view === 'my-access') loadMyAccess();
  if (view === 'history') loadHistory(true);
}

// ---- My access --------------------------------------------------------------

function statusCell(a) {
  const left = Math.round(a.remainingSeconds / 60);
  if (a.status === 'SCHEDULED') {
    const starts = Math.max(0, Math.round((new Date(a.start) - new Date(ls.serverTime)) / 60000));
    return el('span', { class: 'chip chip-scheduled' }, `Scheduled: starts in ${minutesText(starts)}, lasts ${minutesText(left)}`);
  }
  return el('span', { class: 'chip chip-active' }, `Active: ${minutesText(left)} left`);
}

function extendControls(a) {
  const max = (ls.policy && ls.policy.maxActivationTimeout) || 60;
  const select = el('select', { class: 'extend-minutes', 'aria-label': `New duration for ${a.role}` });
  for (const m of [15, 30, 60, 120, 240, 480, 720, 1440].filter((x) => x <= max)) {
    select.append(el('option', { value: String(m) }, minutesText(m)));
  }
  if (!select.options.length) select.append(el('option', { value: String(max) }, minutesText(max)));
  select.value = String(Math.min(60, max));
  const button = el('button', { type: 'button', class: 'button extend-button' }, 'Extend');
  button.title = a.status === 'SCHEDULED' ? 'Set the length from the start' : 'Make it last this long from now';
  button.addEventListener('click', async () => {
    showError(null);
    button.disabled = true;
    try {
      const b = await lifecycleApi.extend(a.id, Number(select.value));
      notice(`Extended ${b.role} on ${b.resource} until ${localTime(b.end)}.`);
      await loadMyAccess();
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  });
  return [select, button];
}

function endButton(a) {
  const button = el('button', { type: 'button', class: 'button button-danger end-button' },
    a.status === 'SCHEDULED' ? 'Cancel' : 'End now');
  button.addEventListener('click', () => confirmEnd(a));
  return button;
}

function confirmEnd(a) {
  const dialog = $('#end-dialog');
  $('#end-dialog-what').textContent = `${a.role} on ${a.resource} for ${a.beneficiary}, ${a.status === 'SCHEDULED' ? 'scheduled from' : 'active since'} ${localTime(a.start)}.`;
  dialog.returnValue = '';
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'end') return;
    showError(null);
    try {
      const ended = await lifecycleApi.end(a.id);
      notice(`Ended ${ended.role} on ${ended.resource}. ${ended.notice}`);
      await loadMyAccess();
    } catch (err) {
      showError(err);
    }
  };
  dialog.showModal();
  $('#end-cancel').focus();
}

function notice(text) {
  const box = $('#myaccess-notice');
  box.textContent = text;
  box.hidden = !text;
  announce(text);
}

async function loadMyAccess() {
  try {
    if (!ls.policy) ls.policy = await lifecycleApi.policy();
    const data = await lifecycleApi.activations(ls.query);
    ls.serverTime = data.serverTime;
    $('#myaccess-admin').hidden = !data.isAdministrator;
    const warnings = data.warnings || [];
    $('#myaccess-warnings').hidden = warnings.length === 0;
    $('#myaccess-warnings').textContent = warnings.join(' ');
    renderGrants(data.activations || []);
  } catch (err) {
    showError(err);
  }
}

function renderGrants(grants) {
  const me = ls.policy && ls.policy.signedInUser.email;
  const tbody = $('#myaccess-table tbody');
  tbody.replaceChildren();
  $('#myaccess-empty').hidden = grants.length > 0;
  $('#myaccess-table').hidden = grants.length === 0;
  for (const a of grants) {
    const own = a.beneficiary === me;
    const actions = el('td', { class: 'actions-cell' });
    if (own && !a.approvedBy) actions.append(...extendControls(a));
    if (own && a.approvedBy) actions.append(el('span', { class: 'hint' }, 'To extend, request it again. '));
    actions.append(endButton(a));
    tbody.append(el('tr', { dataset: { testid: 'grant-row', role: a.role, resource: a.resource, status: a.status, beneficiary: a.beneficiary } },
      el('td', { class: 'mono' }, a.resource),
      el('td', { class: 'mono' }, a.role),
      el('td', { class: 'mono' }, a.resourceCondition || '-'),
      el('td', {}, own ? 'You' : a.beneficiary),
      el('td', {}, `${localTime(a.start)} – ${localTime(a.end)}`),
      el('td', {}, statusCell(a)),
      el('td', {}, a.approvedBy ? `Approved by ${a.approvedBy}` : 'Self-approved'),
      el('td', {}, a.justification || '-'),
      actions));
  }
  announce(`${grants.length} activations`);
}

function setupMyAccess() {
  $('#myaccess-show').addEventListener('click', () => {
    const q = new URLSearchParams();
    if ($('#myaccess-all').checked) q.set('all', 'true');
    else if ($('#myaccess-user').value.trim()) q.set('user', $('#myaccess-user').value.trim());
    ls.query = q.toString() ? `?${q}` : '';
    notice('');
    loadMyAccess();
  });
}

// ---- History ------------------------------------------------------------------

function toRFC3339(local) {
  if (!local) return '';
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function historyQuery() {
  const q = new URLSearchParams({ pageSize: '25' });
  const add = (k, v) => { if (v) q.set(k, v); };
  add('user', $('#history-user').value.trim());
  add('resource', $('#history-resource').value.trim());
  add('role', $('#history-role').value.trim());
  add('from', toRFC3339($('#history-from').value));
  add('to', toRFC3339($('#history-to').value));
  add('kind', $('#history-kind').value);
  return q;
}

// historyDetails says what the row's columns do not: why it failed, the
// reviewer's reason or comment, who approved, the window. Entries are
// named by the server (title), the same in jitctl.
function historyDetails(e) {
  const details = [];
  if (e.failed) details.push(`Failed: ${e.reason || e.message}`);
  else if (e.reason) details.push(`Reason: ${e.reason}`);
  if (e.comment) details.push(`Comment: ${e.comment}`);
  if (e.approvedBy) details.push(`approved by ${e.approvedBy}`);
  if (e.beneficiary && e.beneficiary !== e.user) details.push(`for ${e.beneficiary}`);
  // Only a grant's window is shown: a failure, a request, an approval
  // short of its quorum or a rejection granted nothing, and the window
  // it names would mislead.
  const granted = ['activation', 'end', 'extension'].includes(e.kind);
  if (e.start && !e.failed && granted) details.push(`${localTime(e.start)} – ${localTime(e.end)}`);
  if (details.length === 0 && e.kind === 'other') details.push(e.message);
  return details.join('; ') || '-';
}

async function loadHistory(first) {
  const tbody = $('#history-table tbody');
  if (first) {
    ls.historyQuery = historyQuery().toString();
    ls.historyToken = '';
    tbody.replaceChildren();
  }
  const q = new URLSearchParams(ls.historyQuery);
  if (ls.historyToken) q.set('pageToken', ls.historyToken);
  try {
    const data = await lifecycleApi.history(q.toString());
    $('#history-user').disabled = !data.isAuditor;
    $('#history-scope').textContent = data.isAuditor
      ? 'As an auditor you see everyone\'s entries; filter by user, resource, role and time.'
      : 'Your own activations, requests and decisions, newest first, as far back as the audit log is kept.';
    for (const e of data.entries || []) {
      tbody.append(el('tr', { dataset: { testid: 'history-row', event: e.event, kind: e.kind || '' } },
        el('td', {}, localTime(e.time)),
        el('td', {}, e.title || e.event),
        el('td', {}, e.user),
        el('td', { class: 'mono' }, e.resource || '-'),
        el('td', { class: 'mono' }, e.role || '-'),
        el('td', {}, e.justification || '-'),
        el('td', {}, historyDetails(e))));
    }
    ls.historyToken = data.nextPageToken || '';
    $('#history-more').hidden = !ls.historyToken;
    $('#history-empty').hidden = tbody.children.length > 0;
    $('#history-table').hidden = tbody.children.length === 0;
  } catch (err) {
    showError(err);
  }
}

function setupHistory() {
  $('#history-filter').addEventListener('submit', (e) => { e.preventDefault(); showError(null); loadHistory(true); });
  $('#history-more').addEventListener('click', () => loadHistory(false));
}

// ---- Scheduled start field ------------------------------------------------

function setupSchedule() {
  const input = $('#start-time');
  if (!input) return;
  const pad = (n) => String(n).padStart(2, '0');
  const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  input.min = local(new Date());
}

setupMyAccess();
setupHistory();
setupSchedule();
window.addEventListener('hashchange', route);
if (!new URLSearchParams(window.location.search).get('activation')) route();
