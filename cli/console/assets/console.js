// Pluto dev console: one page, no build step, no dependencies. It reads the JSON API under
// /_pluto/api/ (relative URLs, so the page works wherever it is mounted) and follows the live
// event stream (api/events) for requests, builds and model calls. DOM ids and classes used
// here are a contract with the browser tests; see the issue's api.md.
'use strict';

(() => {
  const VIEWS = ['architecture', 'requests', 'invoke', 'data', 'model'];
  const MAX_REQUEST_ROWS = 500;
  const MAX_MODEL_ROWS = 500;
  const JSON_PREVIEW_LINES = 20;
  const JSON_PREVIEW_CHARS = 4000;
  const KV_PREVIEW_CHARS = 160;
  const MODEL_PREVIEW_CHARS = 90;
  const INTEGER_TYPES = new Set(['i8', 'i16', 'i32', 'i64', 'i128', 'isize', 'u8', 'u16', 'u32', 'u64', 'u128', 'usize']);
  const FLOAT_TYPES = new Set(['f32', 'f64']);

  // ---------------------------------------------------------------- small helpers

  const $ = (selector, root = document) => root.querySelector(selector);

  /** Creates an element: attrs may hold `class`, `text`, `on<event>` handlers, booleans and strings. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
      else if (value === true) node.setAttribute(name, '');
      else node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');

  function formatClock(ms) {
    if (typeof ms !== 'number') return '—';
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function formatDuration(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
    if (ms < 1) return `${ms.toFixed(2)} ms`;
    if (ms < 100) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  function formatSize(chars) {
    if (chars < 1024) return `${chars} B`;
    if (chars < 1024 * 1024) return `${(chars / 1024).toFixed(1)} KB`;
    return `${(chars / 1024 / 1024).toFixed(1)} MB`;
  }

  function formatNumber(value, digits = 0) {
    return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
  }

  function truncate(text, max) {
    const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
    return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
  }

  function errorText(error) {
    if (!error) return '';
    if (typeof error === 'string') return error;
    if (error.type && error.message) return `${error.type}: ${error.message}`;
    return error.message || error.type || JSON.stringify(error);
  }

  /** An HTTP failure with the server's error message when it sent one. */
  async function responseError(response) {
    let detail = response.statusText;
    try {
      const text = await response.text();
      try {
        const body = JSON.parse(text);
        detail = body && body.error ? errorText(body.error) : text;
      } catch {
        if (text) detail = text;
      }
    } catch {
      // keep the status text
    }
    return new Error(`${response.status} ${detail}`.trim());
  }

  async function apiGet(path) {
    const response = await fetch(path, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw await responseError(response);
    return response.json();
  }

  /** POST/PUT/DELETE with the JSON content type the API requires (CSRF protection). */
  async function apiSend(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await responseError(response);
    return response;
  }

  const enc = encodeURIComponent;

  /** Coalesces many calls into one run per animation frame. */
  function frameBatcher(run) {
    let scheduled = false;
    return () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        run();
      });
    };
  }

  function statusClass(status, state) {
    if (typeof status === 'number') {
      if (status >= 500) return 'pill-red';
      if (status >= 400) return 'pill-amber';
      if (status >= 200 && status < 400) return 'pill-green';
      return 'pill-grey';
    }
    if (state === 'error') return 'pill-red';
    if (state === 'ok') return 'pill-green';
    return 'pill-grey';
  }

  function statusPill(status, state) {
    const running = state === 'running' || state === 'streaming';
    const label = typeof status === 'number' ? String(status) : state || '—';
    const pill = el('span', { class: `pill ${running && typeof status !== 'number' ? 'pill-blue' : statusClass(status, state)}` });
    if (running) pill.append(el('span', { class: 'spinner', 'aria-hidden': 'true' }));
    pill.append(label);
    if (state === 'streaming' && typeof status === 'number') pill.append(el('span', { class: 'pill-note', text: 'streaming' }));
    return pill;
  }

  // ---------------------------------------------------------------- JSON blocks

  const JSON_TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

  /** Pretty-printed JSON as text nodes and coloured spans (never innerHTML). */
  function highlightJson(text) {
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(JSON_TOKEN)) {
      if (match.index > last) fragment.append(text.slice(last, match.index));
      let cls = 'j-num';
      if (match[1] !== undefined) cls = match[2] ? 'j-key' : 'j-str';
      else if (match[3] !== undefined) cls = 'j-bool';
      else if (match[0] === 'null') cls = 'j-null';
      if (match[2]) {
        fragment.append(el('span', { class: cls, text: match[1] }), match[2]);
      } else {
        fragment.append(el('span', { class: cls, text: match[0] }));
      }
      last = match.index + match[0].length;
    }
    if (last < text.length) fragment.append(text.slice(last));
    return fragment;
  }

  // Which blocks the user expanded ("show all") or folded, by key, across re-renders.
  const blockExpanded = new Set();
  const blockFolded = new Set();

  /**
   * A collapsible block for a JSON value (or plain text), capped to a few lines with a
   * "show all" toggle so a large event doesn't bury the page.
   */
  function jsonBlock(title, value, key) {
    const isText = typeof value === 'string';
    const text = isText ? value : JSON.stringify(value, null, 2) ?? 'null';
    const lines = text.split('\n');
    const tooLong = lines.length > JSON_PREVIEW_LINES || text.length > JSON_PREVIEW_CHARS;
    const details = el('details', { class: 'block', open: !blockFolded.has(key) });
    details.addEventListener('toggle', () => {
      if (details.open) blockFolded.delete(key);
      else blockFolded.add(key);
    });
    const copy = el('button', { type: 'button', class: 'link-button', text: 'copy' });
    copy.addEventListener('click', (event) => {
      event.preventDefault();
      navigator.clipboard?.writeText(text).then(() => {
        copy.textContent = 'copied';
        setTimeout(() => { copy.textContent = 'copy'; }, 1200);
      }, () => {});
    });
    details.append(el('summary', {},
      el('span', { class: 'block-title', text: title }),
      el('span', { class: 'block-meta', text: `${isText ? 'text' : 'JSON'} · ${lines.length} line${lines.length === 1 ? '' : 's'} · ${formatSize(text.length)}` }),
      copy));
    const pre = el('pre', { class: `code ${isText ? 'text' : 'json'}` });
    details.append(pre);
    const render = () => {
      const expanded = !tooLong || blockExpanded.has(key);
      let shown = text;
      if (!expanded) {
        shown = lines.slice(0, JSON_PREVIEW_LINES).join('\n');
        if (shown.length > JSON_PREVIEW_CHARS) shown = shown.slice(0, JSON_PREVIEW_CHARS);
        shown += '\n…';
      }
      pre.replaceChildren(isText ? shown : highlightJson(shown));
    };
    render();
    if (tooLong) {
      const toggle = el('button', { type: 'button', class: 'link-button show-all' });
      const label = () => {
        toggle.textContent = blockExpanded.has(key) ? 'show less' : `show all (${lines.length} lines)`;
      };
      label();
      toggle.addEventListener('click', () => {
        if (blockExpanded.has(key)) blockExpanded.delete(key);
        else blockExpanded.add(key);
        label();
        render();
      });
      details.append(toggle);
    }
    return details;
  }

  // ---------------------------------------------------------------- state

  let app = null; // api/app
  let loadedGeneration = null;
  let activeView = 'architecture';
  let selectedNode = null; // {kind, name}

  // ---------------------------------------------------------------- tabs and routing

  /** Hash routes: #view, #requests/ID, #architecture/NAME, #data/STORE. */
  function route() {
    const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
    const [first, ...rest] = hash.split('/');
    const view = first.replace(/^(tab|view)-/, '');
    const argument = rest.join('/');
    showView(VIEWS.includes(view) ? view : activeView);
    if (!argument) return;
    if (view === 'requests') openRequest(argument);
    else if (view === 'architecture') selectNodeByName(argument);
    else if (view === 'data') selectStore(argument);
  }

  function showView(view) {
    activeView = view;
    for (const name of VIEWS) {
      const section = document.getElementById(`view-${name}`);
      const tab = document.getElementById(`tab-${name}`);
      const active = name === view;
      section.hidden = !active;
      tab.classList.toggle('active', active);
      tab.setAttribute('aria-selected', String(active));
    }
    if (view === 'data') loadStores();
  }

  function setHash(hash) {
    if (location.hash !== `#${hash}`) history.replaceState(null, '', `#${hash}`);
  }

  // ---------------------------------------------------------------- build status

  function renderBuildStatus(build) {
    const badge = document.getElementById('build-status');
    if (!build) return;
    const state = build.state || 'unknown';
    badge.dataset.state = state;
    badge.replaceChildren();
    if (state === 'building') badge.append(el('span', { class: 'spinner', 'aria-hidden': 'true' }));
    else badge.append(el('span', { class: 'dot', 'aria-hidden': 'true' }));
    let text = state;
    if (state === 'failed') text = `failed: ${build.message || 'the build failed'}`;
    else if (state === 'serving' && build.generation !== undefined) text = 'serving';
    badge.append(el('span', { class: 'build-text', text }));
    if (typeof build.generation === 'number') badge.append(el('span', { class: 'build-gen', text: ` · gen ${build.generation}` }));
    const when = typeof build.at_ms === 'number' ? ` at ${formatClock(build.at_ms)}` : '';
    badge.title = `${state === 'failed' ? 'Build failed' : `Build ${state}`}${when}${build.message ? `\n${build.message}` : ''}`;
  }

  function showBuildPanel(build) {
    const panel = document.getElementById('build-panel');
    const changes = Array.isArray(build.grant_changes) ? build.grant_changes : [];
    const failed = build.state === 'failed';
    if (!failed && changes.length === 0) {
      // A successful build without grant changes clears an old failure.
      if (build.state === 'serving') panel.hidden = true;
      return;
    }
    panel.dataset.state = build.state;
    $('#build-panel-title').textContent = failed
      ? `Build failed (generation ${build.generation ?? '?'})`
      : `Rebuilt (generation ${build.generation ?? '?'}): grant changes`;
    const list = $('#build-grant-changes');
    list.replaceChildren(...changes.map((change) => {
      const kind = change.startsWith('+') ? 'added' : change.startsWith('-') ? 'removed' : 'changed';
      return el('li', { class: kind, text: change });
    }));
    list.hidden = changes.length === 0;
    const pre = $('#build-error');
    pre.textContent = failed ? build.message || '' : '';
    pre.hidden = !failed;
    panel.hidden = false;
  }

  function onBuildEvent(build) {
    renderBuildStatus(build);
    showBuildPanel(build);
    if (app) app.build = { ...app.build, ...build };
    if (build.state !== 'building' && typeof build.generation === 'number' && build.generation !== loadedGeneration) {
      loadApp();
      loadGraph();
    }
  }

  // ---------------------------------------------------------------- app, architecture

  async function loadApp() {
    try {
      app = await apiGet('api/app');
    } catch (error) {
      $('#app-name').textContent = 'unreachable';
      $('#invoke-forms').replaceChildren(el('p', { class: 'error-text', text: `Could not load api/app: ${error.message}` }));
      return;
    }
    loadedGeneration = app.build ? app.build.generation : null;
    $('#app-name').textContent = app.project || 'project';
    $('#stack-name').textContent = app.stack ? `stack ${app.stack}` : '';
    document.title = `${app.project || 'Pluto'} · Pluto dev console`;
    renderBuildStatus(app.build);
    if (app.build && app.build.state === 'failed') showBuildPanel(app.build);
    renderInvokeForms();
    if (selectedNode) renderNodeDetail(selectedNode);
  }

  async function loadGraph() {
    const graph = document.getElementById('graph');
    try {
      const response = await fetch('api/graph.svg');
      if (!response.ok) throw await responseError(response);
      const svg = await response.text();
      graph.innerHTML = svg.replace(/^\s*<\?xml[^>]*>\s*/, '').replace(/<!DOCTYPE[^>]*>/i, '');
      const root = graph.querySelector('svg');
      if (root) {
        // Fit the pane's width (never larger than drawn) and scroll a tall picture, so labels
        // stay legible however many functions the app has.
        const naturalWidth = parseFloat(root.getAttribute('width') || '0');
        root.removeAttribute('width');
        root.removeAttribute('height');
        root.style.width = '100%';
        if (naturalWidth > 0) root.style.maxWidth = `${naturalWidth}px`;
        if (!root.getAttribute('viewBox')) {
          try {
            const box = root.getBBox();
            root.setAttribute('viewBox', `${box.x} ${box.y} ${box.width} ${box.height}`);
          } catch {
            // keep the intrinsic size
          }
        }
      }
      for (const node of graph.querySelectorAll('g.node')) {
        node.setAttribute('tabindex', '0');
        node.setAttribute('role', 'button');
      }
      if (selectedNode) highlightNode(selectedNode.name);
    } catch (error) {
      graph.replaceChildren(el('p', { class: 'error-text', text: `Could not load the graph: ${error.message}` }));
    }
  }

  function nodeElement(name) {
    for (const node of document.querySelectorAll('#graph g.node')) {
      if (node.dataset.name === name) return node;
    }
    return null;
  }

  function highlightNode(name) {
    const graph = document.getElementById('graph');
    for (const item of graph.querySelectorAll('.selected, .related, .highlight')) {
      item.classList.remove('selected', 'related', 'highlight');
    }
    if (name === null) {
      graph.classList.remove('has-selection');
      return;
    }
    graph.classList.add('has-selection');
    const node = nodeElement(name);
    if (node) node.classList.add('selected');
    const related = new Set();
    for (const edge of graph.querySelectorAll('g.edge')) {
      const from = edge.dataset.from || '';
      const to = edge.dataset.to || '';
      if (from === name || to.endsWith(`:${name}`) || to === name) {
        edge.classList.add('highlight');
        related.add(from);
        related.add(to.includes(':') ? to.slice(to.indexOf(':') + 1) : to);
      }
    }
    related.delete(name);
    for (const other of graph.querySelectorAll('g.node')) {
      if (related.has(other.dataset.name)) other.classList.add('related');
    }
  }

  function selectNode(kind, name) {
    selectedNode = { kind, name };
    highlightNode(name);
    renderNodeDetail(selectedNode);
    setHash(`architecture/${name}`);
  }

  function selectNodeByName(name) {
    const node = nodeElement(name);
    const fn = app && app.functions.find((f) => f.name === name);
    const resource = app && app.resources.find((r) => r.name === name);
    const kind = node ? node.dataset.kind : fn ? 'function' : resource ? resource.kind : null;
    if (kind) {
      selectedNode = { kind, name };
      highlightNode(name);
      renderNodeDetail(selectedNode);
    } else {
      selectedNode = { kind: 'function', name };
    }
  }

  function keyValueTable(rows, className = 'kv-table') {
    return el('table', { class: `grid ${className}` },
      el('tbody', {}, rows.map(([key, value]) => el('tr', {}, el('th', { text: key }), el('td', {}, value)))));
  }

  function specValue(value) {
    if (value === null || value === undefined) return el('span', { class: 'muted', text: '—' });
    if (typeof value === 'object') return el('code', { class: 'inline-json', text: JSON.stringify(value) });
    return String(value);
  }

  function resourceLabel(resource) {
    if (!resource) return el('span', { class: 'muted', text: '—' });
    return el('span', { class: 'resource' }, el('span', { class: `kind kind-${resource.kind}`, text: kindLabel(resource.kind) }), ` ${resource.name}`);
  }

  function kindLabel(kind) {
    return { function: 'fn', kv_store: 'kv', sagemaker: 'sagemaker' }[kind] || kind;
  }

  function authBadge(auth) {
    return el('span', { class: `badge auth-${auth || 'none'}`, title: 'Function URL auth', text: auth === 'none' || !auth ? 'no URL' : auth === 'iam' ? 'IAM auth' : 'public' });
  }

  function provenanceList(chains) {
    if (!chains || chains.length === 0) return el('span', { class: 'muted', text: '—' });
    return el('ul', { class: 'provenance' }, chains.map((chain) => el('li', {}, el('code', { text: chain }))));
  }

  function grantsTable(grants, withFunction) {
    const head = el('tr', {},
      withFunction ? el('th', { text: 'Function' }) : el('th', { text: 'Resource' }),
      el('th', { text: 'Operation · IAM action' }), el('th', { text: 'Why (call chains)' }));
    return el('table', { class: 'grid grants' }, el('thead', {}, head),
      el('tbody', {}, grants.map((grant) => el('tr', {},
        el('td', {}, withFunction ? el('strong', { text: grant.function }) : resourceLabel(grant.resource)),
        el('td', {}, el('code', { class: 'op', text: grant.operation }), el('div', { class: 'iam-action mono', text: grant.iam_action })),
        el('td', {}, provenanceList(grant.provenance))))));
  }

  function renderNodeDetail({ kind, name }) {
    const pane = document.getElementById('node-detail');
    if (!app) return;
    pane.replaceChildren();
    if (kind === 'function') {
      const fn = app.functions.find((f) => f.name === name);
      if (!fn) {
        pane.append(el('p', { class: 'empty', text: `No function named ${name} in this build.` }));
        return;
      }
      const invoke = el('a', { href: '#invoke', class: 'button subtle small', text: 'Invoke…' });
      invoke.addEventListener('click', (event) => {
        event.preventDefault();
        setHash('invoke');
        showView('invoke');
        const form = document.querySelector(`form.invoke[data-function="${CSS.escape(fn.name)}"]`);
        if (form) {
          form.scrollIntoView({ block: 'nearest' });
          form.querySelector('textarea, input')?.focus();
        }
      });
      pane.append(el('div', { class: 'detail-head' },
        el('span', { class: 'kind kind-function', text: 'function' }),
        el('h2', { text: fn.name }),
        authBadge(fn.auth),
        fn.streams ? el('span', { class: 'badge streams', text: 'streams' }) : null,
        el('span', { class: 'spacer' }),
        invoke));
      pane.append(keyValueTable([
        ['URL', fn.url ? el('a', { href: fn.url, target: '_blank', rel: 'noopener', class: 'mono', text: fn.url }) : el('span', { class: 'muted', text: 'no Function URL' })],
        ['Auth', authBadge(fn.auth)],
        ['Handler', el('code', { text: fn.handler || fn.name })],
        ['Streams', fn.streams ? 'yes (response streaming)' : 'no (buffered)'],
        ['Timeout', `${fn.timeout_s ?? '—'} s`],
        ['Memory', `${fn.memory_mb ?? '—'} MB`],
      ]));
      pane.append(el('h3', { text: 'Parameters' }));
      pane.append(fn.params && fn.params.length
        ? el('table', { class: 'grid params' },
          el('thead', {}, el('tr', {}, el('th', { text: 'Name' }), el('th', { text: 'Type' }))),
          el('tbody', {}, fn.params.map((p) => el('tr', {}, el('td', {}, el('code', { text: p.name })), el('td', {}, el('code', { text: p.type }))))))
        : el('p', { class: 'muted', text: 'No parameters.' }));
      pane.append(el('h3', { text: `Grants (${(fn.grants || []).length})` }));
      pane.append(fn.grants && fn.grants.length
        ? grantsTable(fn.grants, false)
        : el('p', { class: 'muted', text: 'No AWS permissions: this function calls no resource.' }));
      return;
    }
    const resource = app.resources.find((r) => r.name === name && (!kind || r.kind === kind)) || app.resources.find((r) => r.name === name);
    pane.append(el('div', { class: 'detail-head' },
      el('span', { class: `kind kind-${kind}`, text: kind === 'kv_store' ? 'KV store' : kind === 'sagemaker' ? 'SageMaker endpoint' : kind }),
      el('h2', { text: name })));
    pane.append(el('h3', { text: 'Spec' }));
    const spec = resource && resource.spec && typeof resource.spec === 'object' ? Object.entries(resource.spec) : [];
    pane.append(spec.length ? keyValueTable(spec.map(([key, value]) => [key, specValue(value)])) : el('p', { class: 'muted', text: 'No spec fields.' }));
    const users = [];
    for (const fn of app.functions) {
      for (const grant of fn.grants || []) {
        if (grant.resource && grant.resource.name === name && (!kind || grant.resource.kind === kind)) users.push({ ...grant, function: fn.name });
      }
    }
    const byFunction = new Map();
    for (const grant of users) {
      if (!byFunction.has(grant.function)) byFunction.set(grant.function, []);
      byFunction.get(grant.function).push(grant);
    }
    pane.append(el('h3', { text: `Used by (${byFunction.size} function${byFunction.size === 1 ? '' : 's'})` }));
    if (byFunction.size === 0) {
      pane.append(el('p', { class: 'muted', text: 'No function uses this resource.' }));
      return;
    }
    pane.append(el('table', { class: 'grid users' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Function' }), el('th', { text: 'Operations' }))),
      el('tbody', {}, [...byFunction].map(([fnName, grants]) => el('tr', {},
        el('td', {}, el('strong', { text: fnName })),
        el('td', {}, grants.map((g) => el('code', { class: 'op', title: g.iam_action, text: g.operation }))))))));
    pane.append(el('h3', { text: 'Grants' }));
    pane.append(grantsTable(users, true));
  }

  function onGraphClick(event) {
    const node = event.target.closest('g.node');
    if (!node) {
      if (event.target.closest('#graph svg')) {
        selectedNode = null;
        highlightNode(null);
        document.getElementById('node-detail').replaceChildren(el('p', { class: 'empty', text: 'Select a node in the graph.' }));
        setHash('architecture');
      }
      return;
    }
    selectNode(node.dataset.kind, node.dataset.name);
  }

  // ---------------------------------------------------------------- requests

  const requests = new Map(); // id -> RequestSummary
  const requestRows = new Map(); // id -> <tr>
  const pendingRequests = new Set();
  let openRequestId = null;
  let requestFilter = '';

  function upsertRequest(summary) {
    if (!summary || !summary.id) return;
    requests.set(summary.id, summary);
    pendingRequests.add(summary.id);
    scheduleRequestFlush();
    if (summary.id === openRequestId) scheduleDetailRefresh();
  }

  const scheduleRequestFlush = frameBatcher(() => {
    const tbody = $('#requests tbody');
    const fresh = [];
    for (const id of pendingRequests) {
      const summary = requests.get(id);
      if (!summary) continue;
      let row = requestRows.get(id);
      if (!row) {
        row = el('tr', { class: 'request' });
        requestRows.set(id, row);
        fresh.push(row);
      }
      fillRequestRow(row, summary);
    }
    pendingRequests.clear();
    if (fresh.length) {
      // Arrival order is start order: the last one is the newest and goes on top.
      fresh.reverse();
      tbody.prepend(...fresh);
    }
    while (requestRows.size > MAX_REQUEST_ROWS) {
      const oldest = tbody.lastElementChild;
      if (!oldest) break;
      const id = oldest.dataset.id;
      oldest.remove();
      requestRows.delete(id);
      requests.delete(id);
    }
    updateRequestCount();
  });

  function updateRequestCount() {
    const count = requestRows.size;
    $('#requests-empty').hidden = count > 0;
    $('#requests-count').textContent = count ? String(count) : '';
  }

  function fillRequestRow(row, s) {
    row.dataset.id = s.id;
    row.dataset.function = s.function;
    if (typeof s.status === 'number') row.dataset.status = String(s.status);
    else row.removeAttribute('data-status');
    row.dataset.state = s.state || '';
    row.classList.toggle('open', s.id === openRequestId);
    row.classList.toggle('has-denied', s.denied > 0);
    const request = s.method || s.path
      ? el('span', { class: 'mono' }, s.method ? el('span', { class: 'method', text: s.method }) : null, ` ${s.path || ''}`)
      : el('span', { class: 'muted', text: 'direct invoke' });
    const aws = el('td', { class: 'col-num' });
    aws.append(el('span', { class: s.aws_calls ? '' : 'muted', text: String(s.aws_calls ?? 0) }));
    if (s.denied > 0) aws.append(el('span', { class: 'denied-marker', text: `${s.denied} denied` }));
    row.replaceChildren(
      el('td', { class: 'col-time mono', text: formatClock(s.started_ms) }),
      el('td', { class: 'col-fn' }, el('strong', { text: s.function })),
      el('td', { class: 'col-source' }, el('span', { class: `tag source-${s.source}`, text: s.source })),
      el('td', { class: 'col-path' }, request),
      el('td', { class: 'col-status' }, statusPill(s.status, s.state)),
      el('td', { class: 'col-num mono', text: s.latency_ms === null || s.latency_ms === undefined ? '…' : formatDuration(s.latency_ms) }),
      aws);
    row.hidden = !requestMatches(s);
  }

  function requestMatches(s) {
    if (!requestFilter) return true;
    const haystack = `${s.function} ${s.source} ${s.method || ''} ${s.path || ''} ${s.status ?? ''} ${s.state} ${s.id}${s.denied ? ' denied' : ''}`.toLowerCase();
    return requestFilter.split(/\s+/).every((word) => haystack.includes(word));
  }

  async function loadRequests() {
    try {
      const list = await apiGet('api/requests');
      for (const summary of list) upsertRequest(summary);
    } catch (error) {
      $('#requests-empty').textContent = `Could not load requests: ${error.message}`;
    }
  }

  function openRequest(id) {
    openRequestId = id;
    for (const row of requestRows.values()) row.classList.toggle('open', row.dataset.id === id);
    const pane = document.getElementById('request-detail');
    pane.hidden = false;
    if (pane.dataset.id !== id) {
      pane.dataset.id = id;
      pane.replaceChildren(el('p', { class: 'empty' }, el('span', { class: 'spinner' }), ' Loading request…'));
    }
    setHash(`requests/${id}`);
    refreshDetail();
  }

  function closeRequest() {
    openRequestId = null;
    const pane = document.getElementById('request-detail');
    pane.hidden = true;
    pane.replaceChildren();
    delete pane.dataset.id;
    for (const row of requestRows.values()) row.classList.remove('open');
    setHash('requests');
  }

  // One detail fetch at a time; updates arriving meanwhile cause one more fetch afterwards.
  let detailInFlight = false;
  let detailDirty = false;
  let detailTimer = null;

  function scheduleDetailRefresh() {
    if (detailTimer !== null) return;
    detailTimer = setTimeout(() => {
      detailTimer = null;
      refreshDetail();
    }, 120);
  }

  async function refreshDetail() {
    const id = openRequestId;
    if (!id) return;
    if (detailInFlight) {
      detailDirty = true;
      return;
    }
    detailInFlight = true;
    try {
      const detail = await apiGet(`api/requests/${enc(id)}`);
      if (openRequestId === id) renderRequestDetail(detail);
    } catch (error) {
      if (openRequestId === id) {
        document.getElementById('request-detail').replaceChildren(
          detailClose(),
          el('p', { class: 'error-text', text: `Could not load request ${id}: ${error.message}` }));
      }
    } finally {
      detailInFlight = false;
      if (detailDirty) {
        detailDirty = false;
        scheduleDetailRefresh();
      }
    }
  }

  function detailClose() {
    return el('button', { type: 'button', class: 'icon-button close', title: 'Close', 'aria-label': 'Close', text: '×', onclick: closeRequest });
  }

  function renderRequestDetail(d) {
    const pane = document.getElementById('request-detail');
    const scroll = pane.scrollTop;
    const calls = Array.isArray(d.aws_calls) ? d.aws_calls : [];
    const denied = calls.filter((c) => !c.allowed);
    const logs = Array.isArray(d.logs) ? d.logs : [];
    const key = (name) => `${d.id}:${name}`;

    const summary = el('div', { class: 'summary-line' },
      statusPill(d.status, d.state),
      el('strong', { text: d.function }),
      d.method || d.path ? el('span', { class: 'mono' }, el('span', { class: 'method', text: d.method || '' }), ` ${d.path || ''}`) : null,
      el('span', { class: `tag source-${d.source}`, text: d.source }),
      el('span', { class: 'muted', text: `${formatClock(d.started_ms)} · ${d.latency_ms === null || d.latency_ms === undefined ? 'running…' : formatDuration(d.latency_ms)}${d.streamed ? ' · streamed' : ''}` }));

    const parts = [
      el('div', { class: 'detail-head' }, el('h2', { text: 'Request' }), el('code', { class: 'request-id', title: 'Request id', text: d.id }), detailClose()),
      summary,
    ];
    if (denied.length) {
      parts.push(el('div', { class: 'callout danger' },
        el('strong', { text: `${denied.length} AWS call${denied.length === 1 ? ' was' : 's were'} denied: ` }),
        denied.map((c) => c.missing_grant || c.operation).join(', '),
        el('div', { class: 'muted small', text: 'Deployed, the function\'s role would refuse the same calls. Details in the AWS calls table below.' })));
    }
    if (d.error) {
      parts.push(el('div', { class: 'callout danger error' },
        el('strong', { text: d.error.type || 'Error' }), el('pre', { class: 'code', text: d.error.message || '' })));
    }
    parts.push(el('h3', {}, 'AWS calls ', el('span', { class: 'count', text: String(calls.length) })));
    const callRows = calls.map((call) => {
      const row = el('tr', { class: `aws-call${call.allowed ? '' : ' denied'}`, 'data-allowed': String(Boolean(call.allowed)) },
        el('td', { class: 'col-time mono', text: formatClock(call.at_ms) }),
        el('td', { class: 'call' },
          el('div', {}, el('code', { class: 'operation', text: call.operation }), ' ', resourceLabel(call.resource)),
          el('div', { class: 'iam-action mono', title: 'IAM action', text: call.iam_action }),
          call.physical ? el('div', { class: 'physical mono', title: 'Physical resource', text: call.physical }) : null));
      const result = el('td', { class: 'result' });
      if (call.allowed) {
        result.append(el('span', { class: 'pill pill-green', text: 'allowed' }));
      } else {
        result.append(el('div', { class: 'grant-callout' },
          el('div', {}, el('span', { class: 'pill pill-red', text: 'denied' }), ' Missing grant: ',
            el('strong', { class: 'missing-grant', text: call.missing_grant || `${call.operation}${call.resource ? ` on ${call.resource.name}` : ''}` })),
          el('div', { class: 'explanation', text: call.explanation || 'The deployed role would not allow this call.' })));
      }
      row.append(result);
      return row;
    });
    parts.push(calls.length
      ? el('div', { class: 'table-wrap inner' }, el('table', { class: 'grid aws-calls' },
        el('thead', {}, el('tr', {}, el('th', { text: 'Time' }), el('th', { text: 'Call · IAM action · resource' }), el('th', { text: 'Result' }))),
        el('tbody', {}, callRows)))
      : el('table', { class: 'grid aws-calls empty-table' }, el('tbody', {}, el('tr', {}, el('td', { class: 'muted', text: 'No AWS calls.' })))));

    parts.push(el('h3', {}, 'Logs ', el('span', { class: 'count', text: String(logs.length) })));
    const logBox = el('div', { class: 'logs' });
    if (logs.length === 0) logBox.append(el('div', { class: 'log-line muted', text: 'No log lines.' }));
    for (const entry of logs) {
      logBox.append(el('div', { class: 'log-line' },
        el('span', { class: 'log-time', text: formatClock(entry.at_ms) }),
        entry.instance !== undefined && entry.instance !== null ? el('span', { class: 'log-instance', title: 'Lambda instance', text: `#${entry.instance}` }) : null,
        el('span', { class: 'log-text', text: entry.line })));
    }
    parts.push(logBox);
    parts.push(el('h3', { text: 'Response' }));
    parts.push(d.response === null || d.response === undefined
      ? el('p', { class: 'muted', text: d.state === 'running' || d.state === 'streaming' ? 'Not finished yet.' : 'No response body.' })
      : jsonBlock(typeof d.response === 'string' ? 'Response text' : 'Response', d.response, key('response')));
    parts.push(el('h3', { text: 'Event' }), jsonBlock('Lambda event', d.event ?? null, key('event')));

    pane.replaceChildren(...parts);
    pane.scrollTop = scroll;
  }

  function onRequestTableClick(event) {
    const row = event.target.closest('tr.request');
    if (!row) return;
    openRequest(row.dataset.id);
  }

  // ---------------------------------------------------------------- invoke

  function paramKind(type) {
    const t = String(type || '').replace(/\s+/g, '');
    if (t === 'String' || t === '&str' || t === 'std::string::String') return 'string';
    if (INTEGER_TYPES.has(t)) return 'integer';
    if (FLOAT_TYPES.has(t)) return 'float';
    if (t === 'bool') return 'bool';
    return 'json';
  }

  const functionSignature = (fn) => JSON.stringify([fn.name, fn.url, fn.auth, fn.streams, fn.params]);

  function renderInvokeForms() {
    const container = document.getElementById('invoke-forms');
    if (!app) return;
    const existing = new Map();
    for (const form of container.querySelectorAll('form.invoke')) existing.set(form.dataset.function, form);
    const cards = app.functions.map((fn) => {
      const old = existing.get(fn.name);
      if (old && old.dataset.signature === functionSignature(fn)) return old;
      return invokeForm(fn);
    });
    if (cards.length === 0) {
      container.replaceChildren(el('p', { class: 'empty', text: 'This app has no functions.' }));
      return;
    }
    container.replaceChildren(...cards);
  }

  function invokeForm(fn) {
    const form = el('form', { class: 'invoke card', 'data-function': fn.name, 'data-signature': functionSignature(fn), novalidate: true });
    form.append(el('div', { class: 'card-head' },
      el('h3', { text: fn.name }),
      authBadge(fn.auth),
      fn.streams ? el('span', { class: 'badge streams', text: 'streams' }) : null,
      el('span', { class: 'spacer' }),
      el('span', { class: 'muted small', text: `${fn.timeout_s ?? '?'} s · ${fn.memory_mb ?? '?'} MB` })));
    form.append(el('div', { class: 'card-url' }, fn.url
      ? el('a', { href: fn.url, target: '_blank', rel: 'noopener', class: 'mono', text: fn.url })
      : el('span', { class: 'muted', text: 'No Function URL (invoke only)' })));
    const fields = el('div', { class: 'fields' });
    for (const param of fn.params || []) {
      const kind = paramKind(param.type);
      const id = `invoke-${fn.name}-${param.name}`;
      let input;
      if (kind === 'string') input = el('textarea', { name: param.name, id, rows: 2, spellcheck: 'false', 'data-kind': kind });
      else if (kind === 'integer') input = el('input', { type: 'number', step: '1', name: param.name, id, 'data-kind': kind, placeholder: '0' });
      else if (kind === 'float') input = el('input', { type: 'number', step: 'any', name: param.name, id, 'data-kind': kind, placeholder: '0.0' });
      else if (kind === 'bool') input = el('input', { type: 'checkbox', name: param.name, id, 'data-kind': kind });
      else input = el('textarea', { name: param.name, id, rows: 2, spellcheck: 'false', class: 'mono', 'data-kind': kind, placeholder: 'JSON value, e.g. null, 1, "text", [1, 2], {"k": "v"}' });
      const label = el('label', { for: id, class: 'field-label' }, el('span', { class: 'param-name', text: param.name }), el('code', { class: 'type-hint', text: param.type }));
      fields.append(el('div', { class: `field field-${kind}` }, kind === 'bool' ? el('div', { class: 'check' }, input, label) : [label, input], el('div', { class: 'field-error', hidden: true })));
    }
    if (!fn.params || fn.params.length === 0) fields.append(el('p', { class: 'muted small', text: 'No parameters.' }));
    form.append(fields);
    const submit = el('button', { type: 'submit', class: 'button primary', text: 'Invoke' });
    const meta = el('span', { class: 'invoke-meta muted' });
    form.append(el('div', { class: 'card-actions' }, submit, meta));
    form.append(el('pre', { class: 'invoke-output', 'aria-live': 'polite', hidden: true }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      runInvoke(form, fn);
    });
    form.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    return form;
  }

  /** The args object from a form, or null after showing the parse errors inline. */
  function collectArgs(form, fn) {
    const args = {};
    let valid = true;
    for (const param of fn.params || []) {
      const input = form.elements.namedItem(param.name);
      const field = input.closest('.field');
      const errorBox = field.querySelector('.field-error');
      errorBox.hidden = true;
      field.classList.remove('invalid');
      const kind = input.dataset.kind;
      try {
        if (kind === 'string') args[param.name] = input.value;
        else if (kind === 'bool') args[param.name] = input.checked;
        else {
          const raw = input.value.trim();
          if (raw === '') throw new Error(`enter a ${kind === 'json' ? 'JSON value' : 'number'} for ${param.type}`);
          const value = JSON.parse(raw);
          if ((kind === 'integer' && !Number.isInteger(value)) || (kind === 'float' && typeof value !== 'number')) {
            throw new Error(`${raw} is not a valid ${param.type}`);
          }
          args[param.name] = value;
        }
      } catch (error) {
        valid = false;
        field.classList.add('invalid');
        errorBox.textContent = error instanceof SyntaxError ? `Invalid JSON: ${error.message}` : error.message;
        errorBox.hidden = false;
      }
    }
    return valid ? args : null;
  }

  function requestLink(id) {
    const link = el('a', { href: `#requests/${enc(id)}`, class: 'mono', title: 'Open in Requests', text: id.length > 12 ? `${id.slice(0, 12)}…` : id });
    link.addEventListener('click', (event) => {
      event.preventDefault();
      showView('requests');
      openRequest(id);
    });
    return link;
  }

  async function runInvoke(form, fn) {
    const output = form.querySelector('.invoke-output');
    const meta = form.querySelector('.invoke-meta');
    const submit = form.querySelector('button[type=submit]');
    const args = collectArgs(form, fn);
    if (!args) return;
    output.hidden = false;
    output.dataset.done = 'false';
    delete output.dataset.ok;
    output.classList.remove('failed', 'json');
    output.replaceChildren();
    submit.disabled = true;
    submit.textContent = 'Running…';
    meta.replaceChildren(el('span', { class: 'spinner' }), fn.streams ? ' streaming…' : ' running…');
    const started = performance.now();
    let ok = false;
    let requestId = null;
    let duration = null;
    try {
      const response = await fetch(`api/invoke/${enc(fn.name)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(args),
      });
      requestId = response.headers.get('x-pluto-request-id');
      const type = response.headers.get('content-type') || '';
      if (fn.streams && response.ok && !type.includes('application/json') && response.body) {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          if (text) output.append(text);
        }
        const rest = decoder.decode();
        if (rest) output.append(rest);
        output.normalize();
        ok = true;
      } else {
        const text = await response.text();
        let body;
        try {
          body = JSON.parse(text);
        } catch {
          body = { ok: response.ok, result: text, error: response.ok ? null : { type: `HTTP ${response.status}`, message: text } };
        }
        requestId = requestId || body.request_id || null;
        if (typeof body.duration_ms === 'number') duration = body.duration_ms;
        ok = response.ok && body.ok !== false && !body.error;
        if (ok) {
          const result = body.result;
          if (typeof result === 'string') output.textContent = result;
          else {
            output.classList.add('json');
            output.replaceChildren(highlightJson(JSON.stringify(result ?? null, null, 2)));
          }
        } else {
          output.classList.add('failed');
          output.textContent = errorText(body.error) || `HTTP ${response.status}`;
        }
      }
    } catch (error) {
      ok = false;
      output.classList.add('failed');
      output.append(`${output.textContent ? '\n' : ''}${error.message || error}`);
    } finally {
      if (duration === null) duration = performance.now() - started;
      output.dataset.ok = String(ok);
      output.dataset.done = 'true';
      if (!output.textContent) output.append(el('span', { class: 'muted', text: ok ? '(empty result)' : '(no output)' }));
      submit.disabled = false;
      submit.textContent = 'Invoke';
      meta.replaceChildren(
        el('span', { class: `pill ${ok ? 'pill-green' : 'pill-red'}`, text: ok ? 'ok' : 'error' }),
        ` ${formatDuration(duration)}`,
        requestId ? el('span', {}, ' · request ', requestLink(requestId)) : null);
    }
  }

  // ---------------------------------------------------------------- KV data

  let currentStore = null;
  let storesLoading = null;

  function loadStores() {
    if (storesLoading) return storesLoading;
    storesLoading = (async () => {
      const list = $('#kv-stores');
      try {
        const stores = await apiGet('api/kv');
        list.replaceChildren(...stores.map((store) => el('li', {},
          el('button', { type: 'button', class: `store${store.name === currentStore ? ' active' : ''}`, 'data-store': store.name },
            el('span', { class: 'store-name', text: store.name }),
            el('span', { class: 'count', text: String(store.items ?? '') })))));
        if (stores.length === 0) list.append(el('li', { class: 'empty', text: 'This app declares no KV store.' }));
        if (!currentStore && stores.length) await selectStore(stores[0].name);
      } catch (error) {
        list.replaceChildren(el('li', { class: 'error-text', text: `Could not load stores: ${error.message}` }));
      } finally {
        storesLoading = null;
      }
    })();
    return storesLoading;
  }

  async function selectStore(name) {
    currentStore = name;
    for (const button of document.querySelectorAll('#kv-stores [data-store]')) {
      button.classList.toggle('active', button.dataset.store === name);
    }
    if (activeView === 'data') setHash(`data/${name}`);
    await loadItems();
  }

  async function loadItems() {
    const store = currentStore;
    const tbody = $('#kv-items tbody');
    const errorBox = $('#kv-error');
    $('#kv-title').textContent = store ? store : 'Items';
    if (!store) return;
    try {
      const body = await apiGet(`api/kv/${enc(store)}`);
      if (store !== currentStore) return;
      errorBox.hidden = true;
      const items = body.items || [];
      tbody.replaceChildren(...items.map(kvRow));
      $('#kv-empty').hidden = items.length > 0;
      $('#kv-title').replaceChildren(store, el('span', { class: 'count', text: `${items.length} item${items.length === 1 ? '' : 's'}` }));
    } catch (error) {
      errorBox.textContent = `Could not load ${store}: ${error.message}`;
      errorBox.hidden = false;
    }
  }

  const valueText = (value) => (typeof value === 'string' ? value : JSON.stringify(value));

  function kvValueCell(value) {
    const text = valueText(value);
    const cell = el('td', { class: 'kv-value-cell' });
    const shown = el('div', { class: 'kv-value-text mono' });
    cell.append(shown);
    if (text.length <= KV_PREVIEW_CHARS) {
      shown.textContent = text;
      return cell;
    }
    let expanded = false;
    const toggle = el('button', { type: 'button', class: 'link-button' });
    const render = () => {
      shown.textContent = expanded ? text : `${text.slice(0, KV_PREVIEW_CHARS)}…`;
      toggle.textContent = expanded ? 'collapse' : `expand (${text.length} chars)`;
      shown.classList.toggle('expanded', expanded);
    };
    toggle.addEventListener('click', () => {
      expanded = !expanded;
      render();
    });
    render();
    cell.append(toggle);
    return cell;
  }

  function kvRow(item) {
    const row = el('tr', { class: 'kv-item', 'data-key': item.key });
    const edit = el('button', { type: 'button', class: 'button small kv-edit', text: 'Edit' });
    const remove = el('button', { type: 'button', class: 'button small danger kv-delete', text: 'Delete' });
    const actions = el('td', { class: 'col-actions' }, edit, remove);
    row.append(el('td', { class: 'col-key mono', text: item.key }), kvValueCell(item.value), actions);
    edit.addEventListener('click', () => {
      const textarea = el('textarea', { class: 'kv-value mono', rows: Math.min(12, Math.max(3, valueText(item.value).split('\n').length + 1)), spellcheck: 'false' });
      textarea.value = valueText(item.value);
      const save = el('button', { type: 'button', class: 'button small primary kv-save', text: 'Save' });
      const cancel = el('button', { type: 'button', class: 'button small', text: 'Cancel' });
      const errorBox = el('div', { class: 'field-error', hidden: true });
      const cell = el('td', { class: 'kv-value-cell editing' }, textarea, errorBox);
      row.children[1].replaceWith(cell);
      actions.replaceChildren(save, cancel);
      textarea.focus();
      cancel.addEventListener('click', () => loadItems());
      save.addEventListener('click', async () => {
        save.disabled = true;
        try {
          await apiSend('PUT', `api/kv/${enc(currentStore)}/${enc(item.key)}`, { value: textarea.value });
          await refreshData();
        } catch (error) {
          errorBox.textContent = `Save failed: ${error.message}`;
          errorBox.hidden = false;
          save.disabled = false;
        }
      });
      textarea.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) save.click();
        if (event.key === 'Escape') cancel.click();
      });
    });
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Delete "${item.key}" from ${currentStore}?`)) return;
      remove.disabled = true;
      try {
        await apiSend('DELETE', `api/kv/${enc(currentStore)}/${enc(item.key)}`);
        await refreshData();
      } catch (error) {
        const errorBox = $('#kv-error');
        errorBox.textContent = `Delete failed: ${error.message}`;
        errorBox.hidden = false;
        remove.disabled = false;
      }
    });
    return row;
  }

  async function refreshData() {
    await loadItems();
    await loadStores();
  }

  async function onNewItem(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const key = form.elements.namedItem('key').value;
    const value = form.elements.namedItem('value').value;
    const errorBox = $('#kv-error');
    if (!currentStore) {
      errorBox.textContent = 'Select a store first.';
      errorBox.hidden = false;
      return;
    }
    if (!key) {
      form.elements.namedItem('key').focus();
      return;
    }
    try {
      await apiSend('PUT', `api/kv/${enc(currentStore)}/${enc(key)}`, { value });
      form.reset();
      await refreshData();
    } catch (error) {
      errorBox.textContent = `Put failed: ${error.message}`;
      errorBox.hidden = false;
    }
  }

  // ---------------------------------------------------------------- model

  const pendingModelCalls = [];

  function modelRow(call) {
    const row = el('tr', { class: `model-call${call.error ? ' failed' : ''}` },
      el('td', { class: 'col-time mono', text: formatClock(call.at_ms) }),
      el('td', { class: 'truncate', title: 'Click to expand' }, truncate(call.prompt, MODEL_PREVIEW_CHARS)),
      el('td', { class: 'truncate' }, call.error ? el('span', { class: 'error-text', text: call.error }) : truncate(call.output, MODEL_PREVIEW_CHARS)),
      el('td', { class: 'col-num mono', text: formatNumber(call.tokens) }),
      el('td', { class: 'col-num mono', text: typeof call.ttft_ms === 'number' ? `${formatNumber(call.ttft_ms, call.ttft_ms < 100 ? 1 : 0)} ms` : '—' }),
      el('td', { class: 'col-num mono', text: formatNumber(call.tokens_per_s, 1) }),
      el('td', { class: 'col-num mono', text: formatDuration(call.duration_ms) }),
      el('td', {}, call.streamed ? el('span', { class: 'tag', text: 'streamed' }) : el('span', { class: 'muted', text: 'no' })));
    row.addEventListener('click', () => {
      const next = row.nextElementSibling;
      if (next && next.classList.contains('model-call-detail')) {
        next.remove();
        row.classList.remove('open');
        return;
      }
      row.classList.add('open');
      row.after(el('tr', { class: 'model-call-detail' }, el('td', { colspan: 8 },
        el('div', { class: 'model-io' },
          el('div', {}, el('h4', { text: `Prompt (${call.prompt_chars ?? String(call.prompt ?? '').length} chars)` }), el('pre', { class: 'code text', text: call.prompt ?? '' })),
          el('div', {}, el('h4', { text: call.error ? 'Error' : 'Output' }), el('pre', { class: `code text${call.error ? ' failed' : ''}`, text: call.error || call.output || '' }))))));
    });
    return row;
  }

  const scheduleModelFlush = frameBatcher(() => {
    const tbody = $('#model-calls tbody');
    const rows = pendingModelCalls.splice(0).map(modelRow).reverse();
    tbody.prepend(...rows);
    let count = tbody.querySelectorAll('tr.model-call').length;
    while (count > MAX_MODEL_ROWS) {
      const last = tbody.lastElementChild;
      if (!last) break;
      if (last.classList.contains('model-call')) count -= 1;
      last.remove();
    }
    $('#model-empty').hidden = count > 0;
  });

  async function loadModel() {
    try {
      const model = await apiGet('api/model');
      $('#model-endpoints tbody').replaceChildren(...(model.endpoints || []).map((e) => el('tr', {},
        el('td', {}, el('strong', { text: e.name })),
        el('td', { class: 'mono', text: e.stands_for }),
        el('td', { class: 'mono', text: e.served_by }))));
      if ((model.endpoints || []).length === 0) {
        $('#model-endpoints tbody').append(el('tr', {}, el('td', { colspan: 3, class: 'muted', text: 'This app declares no SageMaker endpoint.' })));
      }
      const calls = [...(model.calls || [])].sort((a, b) => (a.at_ms ?? 0) - (b.at_ms ?? 0));
      $('#model-calls tbody').replaceChildren();
      pendingModelCalls.splice(0, pendingModelCalls.length, ...calls);
      scheduleModelFlush();
      if (calls.length === 0) $('#model-empty').hidden = false;
    } catch (error) {
      $('#model-empty').textContent = `Could not load the model: ${error.message}`;
      $('#model-empty').hidden = false;
    }
  }

  // ---------------------------------------------------------------- live events

  function parseData(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

  function connectEvents() {
    const live = document.getElementById('live');
    const source = new EventSource('api/events');
    let connectedBefore = false;
    source.addEventListener('open', () => {
      live.dataset.state = 'live';
      live.textContent = 'live';
      if (connectedBefore) {
        // Catch up with what happened while disconnected (the server may have restarted).
        loadApp();
        loadGraph();
        loadRequests();
        loadModel();
      }
      connectedBefore = true;
    });
    source.addEventListener('error', () => {
      live.dataset.state = 'reconnecting';
      live.textContent = 'reconnecting…';
    });
    source.addEventListener('request', (event) => upsertRequest(parseData(event)));
    source.addEventListener('build', (event) => {
      const build = parseData(event);
      if (build) onBuildEvent(build);
    });
    source.addEventListener('model', (event) => {
      const call = parseData(event);
      if (!call) return;
      pendingModelCalls.push(call);
      scheduleModelFlush();
    });
    source.addEventListener('log', (event) => {
      const log = parseData(event);
      if (log && log.request_id && log.request_id === openRequestId) scheduleDetailRefresh();
    });
  }

  // ---------------------------------------------------------------- start

  function start() {
    for (const name of VIEWS) {
      document.getElementById(`tab-${name}`).addEventListener('click', () => {
        if (name === 'requests' && openRequestId) setHash(`requests/${openRequestId}`);
        else if (name === 'architecture' && selectedNode) setHash(`architecture/${selectedNode.name}`);
        else if (name === 'data' && currentStore) setHash(`data/${currentStore}`);
        else setHash(name);
        showView(name);
      });
    }
    window.addEventListener('hashchange', route);
    $('#build-panel-close').addEventListener('click', () => { $('#build-panel').hidden = true; });
    const graph = document.getElementById('graph');
    graph.addEventListener('click', onGraphClick);
    graph.addEventListener('keydown', (event) => {
      if ((event.key === 'Enter' || event.key === ' ') && event.target.closest('g.node')) {
        event.preventDefault();
        onGraphClick(event);
      }
    });
    $('#requests').addEventListener('click', onRequestTableClick);
    $('#request-filter').addEventListener('input', (event) => {
      requestFilter = event.target.value.trim().toLowerCase();
      for (const [id, row] of requestRows) row.hidden = !requestMatches(requests.get(id));
    });
    $('#requests-clear').addEventListener('click', () => {
      for (const row of requestRows.values()) row.remove();
      requestRows.clear();
      requests.clear();
      updateRequestCount();
    });
    $('#kv-stores').addEventListener('click', (event) => {
      const button = event.target.closest('[data-store]');
      if (button) selectStore(button.dataset.store);
    });
    $('#kv-refresh').addEventListener('click', refreshData);
    $('#kv-new').addEventListener('submit', onNewItem);

    const initial = location.hash.replace(/^#/, '').split('/')[0].replace(/^(tab|view)-/, '');
    showView(VIEWS.includes(initial) ? initial : 'architecture');
    connectEvents();
    Promise.all([loadApp(), loadGraph()]).then(route);
    loadRequests();
    loadModel();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
