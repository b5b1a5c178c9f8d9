// jitaccess single-page UI. No framework, no inline script: the page runs
// under a CSP with script-src 'self'. Every value from the API is put in
// the page with textContent, never as HTML.
//
// Stable hooks for browser tests:
//   #user-email, #error, #status, #project-input, #project-list (li[data-project]),
//   #roles-table ([data-testid=role-row], input.role-check[data-id]),
//   #request-form, #justification, #duration, #duration-value, #peers-list
//   (input.peer-check[value]), #submit, #result-title, #result-table,
//   #approve, #open-console; approval requests: #request-state, #reject,
//   #reject-form, #reject-reason, #reject-confirm, #requests-card,
//   #review-requests and #my-requests (li[data-testid=request-item]);
//   approval policy: #peers-intro, #peers-when, .chip-mpa[data-required];
//   approval comments: #approve-comment, #request-comments; withdrawal:
//   #withdraw, button.withdraw-button in #my-requests.

const api = {
  async call(method, path, body) {
    const headers = { 'X-JITACCESS': '1' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'The server could not be reached. Check your connection and try again.');
    }
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      let message = (data && data.message) || response.statusText || 'The request failed';
      if (response.status === 401) message += '. Your session may have expired: reload the page.';
      throw new ApiError(response.status, message);
    }
    return data;
  },
  policy() { return this.call('GET', '/api/policy'); },
  projects() { return this.call('GET', '/api/projects'); },
  roles(p) { return this.call('GET', `${scopePath(p)}/roles`); },
  peers(p, id) { return this.call('GET', `${scopePath(p)}/peers?id=${encodeURIComponent(id)}`); },
  selfActivate(p, body) { return this.call('POST', `${scopePath(p)}/roles/self-activate`, body); },
  request(p, body) { return this.call('POST', `${scopePath(p)}/roles/request`, body); },
  // Folders and organizations (ACTIVATION_ON_FOLDERS_AND_ORGANIZATIONS):
  // 404 when the feature is off.
  async nodes() {
    const out = [];
    for (const kind of ['folders', 'organizations']) {
      try { out.push(...((await this.call('GET', `/api/${kind}`))[kind] || [])); } catch (e) { /* off or unavailable */ }
    }
    return out;
  },
  getRequest(t) { return this.call('GET', `/api/activation-request?activation=${encodeURIComponent(t)}`); },
  // An approval without a comment sends no body, as the original's UI did.
  approve(t, comment) {
    return this.call('POST', `/api/activation-request?activation=${encodeURIComponent(t)}`, comment ? { comment } : undefined);
  },
  reject(t, reason) { return this.call('POST', `/api/activation-request/reject?activation=${encodeURIComponent(t)}`, { reason }); },
  withdraw(t) { return this.call('POST', `/api/activation-request/withdraw?activation=${encodeURIComponent(t)}`); },
  requests(view) { return this.call('GET', `/api/requests?view=${encodeURIComponent(view)}`); },
};

// scopePath is the API path of a project id, or of a folder's or the
// organization's resource name ("folders/123").
function scopePath(p) {
  return /^(folders|organizations)\/[0-9]+$/.test(p) ? `/api/${p}` : `/api/projects/${encodeURIComponent(p)}`;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

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

const state = { policy: null, projects: [], project: null, roles: [], selected: new Set(), peers: [] };
const MAX_LISTED_PROJECTS = 100;

function showError(err) {
  const box = $('#error');
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  const status = err.status ? ` (HTTP ${err.status})` : '';
  box.textContent = `${err.message}${status}`;
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

function announce(text) { $('#status').textContent = text; }

async function busy(fn) {
  $('#busy').hidden = false;
  try { return await fn(); } finally { $('#busy').hidden = true; }
}

function formatDuration(minutes) {
  const h = Math.floor(minutes / 60), m = minutes % 60;
  if (h && m) return `${h} h ${m} min`;
  return h ? `${h} h` : `${m} min`;
}

function formatTime(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  const diff = Math.round((epochSeconds * 1000 - Date.now()) / 60000);
  const rel = diff === 0 ? 'now' : diff > 0 ? `in ${formatDuration(diff)}` : `${formatDuration(-diff)} ago`;
  return `${d.toLocaleString()} (${rel})`;
}

// ---- Project picker -------------------------------------------------------

function renderProjectList(filter) {
  const list = $('#project-list');
  const input = $('#project-input');
  list.replaceChildren();
  const q = filter.trim().toLowerCase();
  const matches = state.projects.filter((p) => p.toLowerCase().includes(q));
  for (const p of matches.slice(0, MAX_LISTED_PROJECTS)) {
    const li = el('li', { role: 'option', id: `project-option-${p}`, dataset: { project: p } }, p);
    li.addEventListener('mousedown', (e) => { e.preventDefault(); chooseProject(p); });
    list.append(li);
  }
  if (matches.length > MAX_LISTED_PROJECTS) {
    list.append(el('li', { class: 'listbox-note' }, `${matches.length - MAX_LISTED_PROJECTS} more: refine your search`));
  }
  if (matches.length === 0) list.append(el('li', { class: 'listbox-note' }, 'No matching project'));
  list.hidden = false;
  input.setAttribute('aria-expanded', 'true');
}

function closeProjectList() {
  $('#project-list').hidden = true;
  $('#project-input').setAttribute('aria-expanded', 'false');
  $('#project-input').removeAttribute('aria-activedescendant');
}

function moveActive(delta) {
  const options = [...document.querySelectorAll('#project-list li[data-project]')];
  if (!options.length) return;
  let i = options.findIndex((o) => o.getAttribute('aria-selected') === 'true');
  options.forEach((o) => o.setAttribute('aria-selected', 'false'));
  i = (i + delta + options.length) % options.length;
  options[i].setAttribute('aria-selected', 'true');
  options[i].scrollIntoView({ block: 'nearest' });
  $('#project-input').setAttribute('aria-activedescendant', options[i].id);
}

function setupProjectPicker() {
  const input = $('#project-input');
  input.addEventListener('input', () => renderProjectList(input.value));
  input.addEventListener('focus', () => renderProjectList(input.value));
  input.addEventListener('blur', () => setTimeout(closeProjectList, 100));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); if ($('#project-list').hidden) renderProjectList(input.value); moveActive(1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); moveActive(-1); }
    else if (e.key === 'Escape') closeProjectList();
    else if (e.key === 'Enter') {
      e.preventDefault();
      const active = document.querySelector('#project-list li[aria-selected="true"]')
        || document.querySelector('#project-list li[data-project]');
      if (active) chooseProject(active.dataset.project);
    }
  });
}

async function chooseProject(project) {
  closeProjectList();
  $('#project-input').value = project;
  state.project = project;
  state.selected.clear();
  localStorage.setItem('jitaccess.project', project);
  const url = new URL(window.location.href);
  url.searchParams.set('projectId', project);
  history.replaceState(null, '', url);
  await loadRoles();
}

// ---- Roles ----------------------------------------------------------------

function statusText(role) {
  if (role.status === 'ACTIVE') {
    if (role.validUntil) {
      const left = Math.max(0, Math.round((role.validUntil * 1000 - Date.now()) / 60000));
      return `Active (${formatDuration(left)} left)`;
    }
    return 'Active';
  }
  if (role.status === 'ACTIVATION_PENDING') return 'Waiting for approval';
  return 'Available';
}

async function loadRoles() {
  showError(null);
  $('#roles-card').hidden = false;
  $('#roles-project').textContent = state.project;
  $('#roles-loading').hidden = false;
  $('#roles-table').hidden = true;
  $('#roles-empty').hidden = true;
  $('#request-form').hidden = true;
  try {
    const data = await api.roles(state.project);
    state.roles = data.entitlements || [];
    const warnings = data.warnings || [];
    $('#roles-warnings').hidden = warnings.length === 0;
    $('#roles-warnings').textContent = warnings.join(' ');
    renderRoles();
    announce(`${state.roles.length} eligible roles`);
  } catch (err) {
    showError(err);
  } finally {
    $('#roles-loading').hidden = true;
  }
}

function renderRoles() {
  const tbody = $('#roles-table tbody');
  tbody.replaceChildren();
  $('#roles-empty').hidden = state.roles.length > 0;
  $('#roles-table').hidden = state.roles.length === 0;
  for (const role of state.roles) {
    const check = el('input', { type: 'checkbox', class: 'role-check', dataset: { id: role.id }, 'aria-label': `Select ${role.name}` });
    check.checked = state.selected.has(role.id);
    check.addEventListener('change', () => {
      if (check.checked) state.selected.add(role.id); else state.selected.delete(role.id);
      row.classList.toggle('selected', check.checked);
      onSelectionChanged();
    });
    const condition = role.resourceCondition
      ? el('span', { class: 'mono', title: role.resourceCondition },
        role.resourceCondition.length > 40 ? `${role.resourceCondition.slice(0, 40)}…` : role.resourceCondition)
      : '-';
    const requirement = role.activationType === 'MPA'
      ? el('span', { class: 'chip chip-mpa', dataset: { required: String(role.approvalsRequired || 1) } }, approvalChipText(role)) : '-';
    const status = el('span', { class: role.status === 'ACTIVE' ? 'chip chip-active' : 'chip' }, statusText(role));
    const row = el('tr', { dataset: { testid: 'role-row', id: role.id } },
      el('td', {}, check), el('td', { class: 'mono' }, role.name), el('td', {}, condition),
      el('td', {}, requirement), el('td', {}, status));
    tbody.append(row);
  }
  onSelectionChanged();
}

function selectedRoles() { return state.roles.filter((r) => state.selected.has(r.id)); }

async function onSelectionChanged() {
  const roles = selectedRoles();
  const form = $('#request-form');
  form.hidden = roles.length === 0;
  const mpa = roles.filter((r) => r.activationType === 'MPA');
  const warning = $('#selection-warning');
  warning.hidden = true;
  $('#peers-section').hidden = true;
  if (mpa.length > 0 && roles.length > 1) {
    warning.textContent = 'You can only request peer approval for a single role at a time.';
    warning.hidden = false;
  } else if (roles.length > state.policy.maxRoles) {
    warning.textContent = `You can activate at most ${state.policy.maxRoles} roles at a time.`;
    warning.hidden = false;
  }
  $('#request-title').textContent = mpa.length ? 'Request approval' : 'Activate roles';
  $('#submit').textContent = mpa.length ? 'Request approval' : 'Activate';
  if (mpa.length === 1 && roles.length === 1) await loadPeers(mpa[0]);
  updateSubmit();
}

// ---- Peers ----------------------------------------------------------------

async function loadPeers(role) {
  const list = $('#peers-list');
  list.replaceChildren();
  $('#peers-section').hidden = false;
  $('#peers-empty').hidden = true;
  state.peers = [];
  state.approval = { required: role.approvalsRequired || 1, type: role.approverType };
  try {
    const data = await api.peers(state.project, role.id);
    state.peers = (data.peers || []).map((p) => p.email);
    // The peers answer is read after the roles one: it wins.
    if (data.approvalsRequired) state.approval = { required: data.approvalsRequired, type: data.approverType };
  } catch (err) {
    showError(err);
  }
  showApprovalPolicy(state.approval);
  $('#peers-empty').hidden = state.peers.length > 0;
  $('#peer-filter').hidden = state.peers.length < 8;
  for (const email of state.peers) {
    const box = el('input', { type: 'checkbox', class: 'peer-check', value: email });
    box.addEventListener('change', updateSubmit);
    list.append(el('li', { dataset: { email } }, el('label', {}, box, email)));
  }
  updateSubmit();
}

function selectedPeers() { return [...document.querySelectorAll('.peer-check:checked')].map((b) => b.value); }

function updateSubmit() {
  const roles = selectedRoles();
  const mpa = roles.some((r) => r.activationType === 'MPA');
  const justification = $('#justification').value.trim();
  let ok = roles.length > 0 && justification.length > 0 && $('#selection-warning').hidden;
  if (mpa) ok = ok && selectedPeers().length >= Math.max(1, state.policy.minReviewers || 1, (state.approval && state.approval.required) || 1);
  $('#submit').disabled = !ok;
}

// ---- Approval policy -------------------------------------------------------
// What a request's approval takes (the roles and peers answers'
// approvalsRequired and approverType), said before the requester asks. An
// answer without them (an older server) reads as the original's rule: one
// peer.

function approvalChipText(role) {
  const n = role.approvalsRequired || 1;
  if (role.approverType === 'DEDICATED') return n > 1 ? `${n} approvers must approve` : 'Approver must approve';
  return n > 1 ? `${n} peers must approve` : 'Peer approval required';
}

function showApprovalPolicy(approval) {
  const n = approval.required || 1;
  const dedicated = approval.type === 'DEDICATED';
  let intro;
  if (dedicated) {
    intro = n > 1 ? `This role has dedicated approvers: ${n} of these approvers must approve.`
      : 'This role has dedicated approvers: one of these approvers must approve.';
  } else {
    intro = n > 1 ? `This role needs the approval of ${n} peers who hold it too: ${n} of these peers must approve.`
      : 'This role needs the approval of a peer who holds it too.';
  }
  $('#peers-intro').textContent = `${intro} Select who should review your request${n > 1 ? ` (at least ${n})` : ''}:`;
  $('#peers-when').textContent = n > 1
    ? `Access starts when the last of the ${n} approvals arrives, and lasts for the duration you choose. Any one of the reviewers can reject it.`
    : `Access starts when ${dedicated ? 'an approver' : 'a reviewer'} approves, and lasts for the duration you choose.`;
}

// ---- Submit ---------------------------------------------------------------

async function submit(e) {
  e.preventDefault();
  showError(null);
  const roles = selectedRoles();
  const justification = $('#justification').value.trim();
  const minutes = Number($('#duration').value);
  const mpa = roles.some((r) => r.activationType === 'MPA');
  const schedule = scheduledStart();
  try {
    const result = await busy(() => (mpa
      ? api.request(state.project, { entitlementId: roles[0].id, justification, peers: selectedPeers(), activationTimeout: minutes, ...schedule })
      : api.selfActivate(state.project, { entitlementIds: roles.map((r) => r.id), justification, activationTimeout: minutes, ...schedule })));
    const first = (result.entitlements || [])[0];
    const later = !mpa && first && first.startTime * 1000 > Date.now() + 60000;
    showResult(result, mpa ? 'requested' : later ? 'scheduled' : 'activated');
  } catch (err) {
    showError(err);
    $('#justification').setAttribute('aria-invalid', err.status === 400 || err.status === 403 ? 'true' : 'false');
  }
}

// ---- Scheduled start (lifecycle) --------------------------------------------

// scheduledStart returns {startTime} from the "Start later" field, or {}:
// the field holds local time; the API takes RFC 3339 in UTC.
function scheduledStart() {
  const v = $('#start-time') && $('#start-time').value;
  if (!v) return {};
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) return {};
  return { startTime: t.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

// ---- Result and approval views ------------------------------------------

function showResult(result, mode, token) {
  $('#activation-view').hidden = true;
  $('#result-view').hidden = false;
  const titles = {
    activated: ['Access granted', 'Your roles are active. They expire automatically at the end time.'],
    scheduled: ['Access scheduled', 'Your roles will be active from the start time until the end time. You can cancel them under My access before they start.'],
    requested: ['Request submitted', 'Your request has been sent to the reviewers. You will receive an email once a reviewer approves it. Access starts at approval.'],
    review: ['Review access request', 'One of your peers asks you to approve the following access. If you approve, access starts now and lasts for the requested time.'],
    pending: ['Waiting for approval', 'Your request has not been approved yet.'],
    approved: ['Access approved', 'You approved the following access request.'],
    ...REQUEST_TITLES,
  };
  const [title, description] = titles[mode];
  $('#result-title').textContent = title;
  $('#result-description').textContent = description;
  document.title = `${title} · Just-in-time access`;
  announce(title);

  const warnings = result.warnings || [];
  $('#result-warnings').hidden = warnings.length === 0;
  $('#result-warnings').textContent = warnings.join(' ');

  const details = $('#result-details');
  details.replaceChildren();
  const add = (k, v) => details.append(el('dt', {}, k), el('dd', {}, v));
  const first = (result.entitlements || [])[0];
  add('User', result.isBeneficiary ? `You (${result.beneficiary.email})` : result.beneficiary.email);
  if (first) {
    if (!['activated', 'approved', 'granted', 'ended', 'approved-other'].includes(mode)) {
      add('Duration', formatDuration(Math.round((first.endTime - first.startTime) / 60)));
    } else {
      add('Start', formatTime(first.startTime));
      add('End', formatTime(first.endTime));
    }
  }
  add('Justification', result.justification);
  add('Reviewers', (result.reviewers || []).map((r) => r.email).join(', ') || '-');
  addRequestState(add, result);

  const tbody = $('#result-table tbody');
  tbody.replaceChildren();
  for (const e of result.entitlements || []) {
    tbody.append(el('tr', { dataset: { testid: 'result-row' } },
      el('td', {}, e.projectId), el('td', { class: 'mono' }, e.name),
      el('td', { class: 'mono' }, e.resourceCondition || '-'),
      el('td', {}, e.status === 'ACTIVE' ? 'Active' : e.status === 'ACTIVATION_PENDING' ? 'Waiting for approval'
        : e.status === 'INACTIVE' ? 'Inactive' : e.status)));
  }
  const consoleLink = $('#open-console');
  consoleLink.hidden = !(mode === 'activated' || mode === 'scheduled' || mode === 'granted' || (mode === 'approved' && result.isBeneficiary)) || !first;
  if (first) consoleLink.href = `https://console.cloud.google.com/?project=${encodeURIComponent(first.projectId)}`;

  const approve = $('#approve');
  approve.hidden = mode !== 'review';
  setupApproveComment(mode);
  approve.onclick = async () => {
    showError(null);
    approve.disabled = true;
    try {
      const approved = await busy(() => api.approve(token, $('#approve-comment').value.trim()));
      $('#approve-comment').value = '';
      showResult(approved, approved.status === 'PENDING' ? 'approval-added' : 'approved', token);
    } catch (err) {
      showError(err);
      approve.disabled = false;
    }
  };
  setupReject(result, mode, token);
  setupWithdraw(result, mode, token);
  $('#result-title').focus();
}

async function showApproval(token) {
  $('#activation-view').hidden = true;
  try {
    const request = await busy(() => api.getRequest(token));
    showResult(request, requestMode(request), token);
  } catch (err) {
    showError(err);
  }
}

// ---- Approval requests: state, rejection, lists ---------------------------
// The request's state (status, approvals so far, who decided) comes from
// the API's request fields; an answer without them (an older server) falls
// back to the entitlement status, as the original's UI did.

const REQUEST_TITLES = {
  'approval-added': ['Approval recorded', 'You approved the following access request. More approvals are needed before access is granted.'],
  'waiting-others': ['Waiting for other approvers', 'You approved the following access request. It needs more approvals before access is granted.'],
  granted: ['Access granted', 'Your request was approved and access is granted.'],
  'approved-other': ['Request approved', 'The following access request has already been approved.'],
  ended: ['Request approved', 'This request was approved; its access window has ended.'],
  rejected: ['Request rejected', 'The following access request was rejected. No access was granted.'],
  expired: ['Request expired', 'Nobody approved the following access request in time. No access was granted.'],
  withdrawn: ['Request withdrawn', 'The requester withdrew the following access request. It can no longer be approved, and no access was granted.'],
};

function approvedByMe(request) {
  const me = state.policy && state.policy.signedInUser.email;
  return (request.approvals || []).some((a) => a.by === me);
}

function requestMode(request) {
  const reviewer = request.isReviewer && !request.isBeneficiary;
  switch (request.status) {
    case 'PENDING':
      if (reviewer) return approvedByMe(request) ? 'waiting-others' : 'review';
      return 'pending';
    case 'APPROVED': {
      const active = (request.entitlements || []).some((e) => e.status === 'ACTIVE');
      if (request.isBeneficiary) return active ? 'granted' : 'ended';
      return approvedByMe(request) ? 'approved' : 'approved-other';
    }
    case 'REJECTED': return 'rejected';
    case 'EXPIRED': return 'expired';
    case 'WITHDRAWN': return 'withdrawn';
    default: {
      const approved = (request.entitlements || []).some((e) => e.status === 'ACTIVE');
      if (approved) return request.isBeneficiary ? 'activated' : 'approved';
      return reviewer ? 'review' : 'pending';
    }
  }
}

function formatIso(iso) { return iso ? formatTime(Date.parse(iso) / 1000) : ''; }

function progressText(request) {
  const approvals = request.approvals || [];
  const required = request.approvalsRequired || 1;
  const by = approvals.map((a) => a.by).join(', ');
  return `${approvals.length} of ${required} approval${required === 1 ? '' : 's'}${by ? ` (by ${by})` : ''}`;
}

function addRequestState(add, request) {
  if (!request.status) return;
  let text;
  switch (request.status) {
    case 'PENDING': text = `Waiting for approval: ${progressText(request)}`; break;
    case 'APPROVED': text = `Approved by ${request.decidedBy || 'a reviewer'}${request.decidedAt ? ` at ${formatIso(request.decidedAt)}` : ''}`; break;
    case 'REJECTED': text = `Rejected by ${request.rejectedBy || request.decidedBy}`; break;
    case 'EXPIRED': text = 'Expired without approval'; break;
    case 'WITHDRAWN': text = `Withdrawn by ${request.decidedBy || 'the requester'}`; break;
    default: text = request.status;
  }
  const dd = el('span', { id: 'request-state' }, text);
  add('State', dd);
  if ((request.approvalsRequired || 1) > 1 && request.status === 'APPROVED') add('Approvals', progressText(request));
  if (request.status === 'REJECTED' && request.rejectReason) add('Reason', request.rejectReason);
  const comments = (request.approvals || []).filter((a) => a.comment);
  if (comments.length) {
    add(comments.length === 1 ? 'Comment' : 'Comments', el('span', { id: 'request-comments' },
      comments.map((a) => `${a.by}: ${a.comment}`).join(' · ')));
  }
  if (request.status === 'PENDING' && request.expiresAt) add('Open until', formatIso(request.expiresAt));
}

// setupApproveComment shows the approval's comment field to a reviewer;
// required when the deployment says so (ACTIVATION_APPROVAL_COMMENT).
function setupApproveComment(mode) {
  const field = $('#approve-comment-field');
  const input = $('#approve-comment');
  const approve = $('#approve');
  const required = state.policy && state.policy.approvalComment === 'required';
  field.hidden = mode !== 'review';
  input.required = required;
  $('#approve-comment-label').textContent = required
    ? 'Comment (required, the requester sees it)' : 'Comment (optional, the requester sees it)';
  const update = () => { approve.disabled = required && input.value.trim() === ''; };
  input.oninput = update;
  update();
}

function setupReject(request, mode, token) {
  const button = $('#reject');
  const form = $('#reject-form');
  form.hidden = true;
  button.hidden = !(token && (mode === 'review' || mode === 'waiting-others'));
  button.disabled = false;
  button.onclick = () => {
    form.hidden = false;
    button.hidden = true;
    $('#reject-reason').focus();
  };
  $('#reject-cancel').onclick = () => { form.hidden = true; button.hidden = false; button.focus(); };
  form.onsubmit = async (e) => {
    e.preventDefault();
    showError(null);
    $('#reject-confirm').disabled = true;
    try {
      const rejected = await busy(() => api.reject(token, $('#reject-reason').value.trim()));
      $('#reject-reason').value = '';
      showResult(rejected, 'rejected', token);
    } catch (err) {
      showError(err);
    } finally {
      $('#reject-confirm').disabled = false;
    }
  };
}

function requestItem(r, view) {
  const link = el('a', { href: `./?activation=${encodeURIComponent(r.token)}&projectId=${encodeURIComponent(r.projectId)}` },
    view === 'review' ? 'Review' : 'View');
  const who = view === 'review' ? `${r.beneficiary} requests ` : '';
  const chipClass = r.status === 'APPROVED' ? 'chip chip-active' : r.status === 'REJECTED' ? 'chip chip-rejected' : 'chip chip-mpa';
  const chipText = r.status === 'PENDING' ? progressText(r) : r.status === 'APPROVED' ? `Approved by ${r.decidedBy}`
    : r.status === 'REJECTED' ? `Rejected by ${r.rejectedBy}` : r.status === 'WITHDRAWN' ? 'Withdrawn' : r.status;
  const item = el('li', { dataset: { testid: 'request-item', status: r.status, id: r.id } },
    el('span', { class: 'request-what' }, `${who}`, el('span', { class: 'mono' }, r.role), ` on ${r.projectId}: ${r.justification}`),
    el('span', { class: chipClass }, chipText), link);
  if (view === 'mine' && r.status === 'PENDING') item.append(withdrawButton(r));
  return item;
}

// ---- Withdrawal: the requester takes back a pending request ---------------

function setupWithdraw(request, mode, token) {
  const button = $('#withdraw');
  button.hidden = !(token && mode === 'pending' && request.isBeneficiary && request.status === 'PENDING');
  button.disabled = false;
  button.onclick = async () => {
    showError(null);
    button.disabled = true;
    try {
      const withdrawn = await busy(() => api.withdraw(token));
      showResult(withdrawn, 'withdrawn', token);
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  };
}

function withdrawButton(r) {
  const button = el('button', { type: 'button', class: 'button withdraw-button', 'aria-label': `Withdraw the request for ${r.role} on ${r.projectId}` }, 'Withdraw');
  button.addEventListener('click', async () => {
    showError(null);
    button.disabled = true;
    try {
      await busy(() => api.withdraw(r.token));
      announce('Request withdrawn');
      await loadRequestLists();
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  });
  return button;
}

async function loadRequestLists() {
  let mine; let review;
  try {
    [mine, review] = await Promise.all([api.requests('mine'), api.requests('review')]);
  } catch (err) {
    // Lists need the audit log in Cloud Logging; without it the card stays hidden.
    if (err.status !== 503) showError(err);
    return;
  }
  const fill = (list, section, items, view) => {
    $(list).replaceChildren(...items.map((r) => requestItem(r, view)));
    $(section).hidden = items.length === 0;
  };
  fill('#review-requests', '#review-requests-section', review.requests || [], 'review');
  fill('#my-requests', '#my-requests-section', mine.requests || [], 'mine');
  $('#requests-empty').hidden = (review.requests || []).length + (mine.requests || []).length > 0;
  $('#requests-card').hidden = false;
}

// ---- Start ----------------------------------------------------------------

async function main() {
  $('#result-title').tabIndex = -1;
  try {
    state.policy = await api.policy();
  } catch (err) {
    showError(err);
    return;
  }
  const p = state.policy;
  $('#user-email').textContent = p.signedInUser.email;
  $('#justification-label').textContent = p.justificationHint || 'Justification';
  $('#justification').placeholder = p.justificationHint || '';
  const duration = $('#duration');
  duration.max = String(p.maxActivationTimeout);
  duration.value = String(p.defaultActivationTimeout);
  const showDuration = () => { $('#duration-value').textContent = formatDuration(Number(duration.value)); };
  duration.addEventListener('input', showDuration);
  showDuration();
  $('#justification').addEventListener('input', () => {
    $('#justification').removeAttribute('aria-invalid');
    updateSubmit();
  });
  $('#request-form').addEventListener('submit', submit);
  $('#roles-select-all').addEventListener('change', (e) => {
    for (const r of state.roles) { if (e.target.checked) state.selected.add(r.id); else state.selected.delete(r.id); }
    renderRoles();
  });

  const params = new URLSearchParams(window.location.search);
  const token = params.get('activation');
  if (token) {
    await showApproval(token);
    return;
  }
  $('#activation-view').hidden = false;
  setupProjectPicker();
  loadRequestLists();
  try {
    const data = await api.projects();
    state.projects = (data.projects || []).concat(await api.nodes());
    $('#project-hint').textContent = `${state.projects.length} projects available`;
    // Whoever typed while the list was on its way sees what matches now,
    // not the "No matching project" of the empty list they typed into; a
    // list they closed (Escape) stays closed.
    if (!$('#project-list').hidden) renderProjectList($('#project-input').value);
  } catch (err) {
    showError(err);
  }
  const initial = params.get('projectId') || localStorage.getItem('jitaccess.project');
  if (initial && state.projects.includes(initial)) await chooseProject(initial);
  else $('#project-input').focus();
}

main();
