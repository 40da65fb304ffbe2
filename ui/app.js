// The markpilot window: plain JavaScript over Tauri's invoke/listen (no framework, no build).
'use strict';

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
};

// ---- sections ---------------------------------------------------------------------------
function show(view) {
  for (const b of document.querySelectorAll('.tab')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  if (view === 'runs') loadRuns();
  if (view === 'settings') loadSettings();
}
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => show(b.dataset.view));

// ---- run state --------------------------------------------------------------------------
const live = {
  running: false, paused: false, step: 0, width: 1, height: 1, elements: [], targets: [],
  perceivedAt: {}, latencies: [], stepsSeen: 0, askedStep: 0,
};
// Read by the end-to-end test: milliseconds from perception finishing to the screenshot shown.
window.__markpilot = live;

/// A new run: forget the last one's steps and marks.
function resetLive() {
  Object.assign(live, { step: 0, elements: [], targets: [], stepsSeen: 0, perceivedAt: {} });
  $('steps').replaceChildren();
  $('elements').replaceChildren();
  $('overlay').replaceChildren();
  for (const id of ['thought', 'action', 'outcome', 'timings']) $(id).textContent = '';
  $('step-title').textContent = 'Starting…';
}

function setRunning(running) {
  live.running = running;
  $('start').disabled = running;
  $('stop').disabled = !running;
  $('pause').disabled = !running || live.paused;
  $('resume').disabled = !running || !live.paused;
  $('state').textContent = running ? (live.paused ? 'paused' : 'running') : 'idle';
}

function drawBoxes() {
  const overlay = $('overlay');
  overlay.replaceChildren();
  for (const e of live.elements) {
    const [x, y, w, h] = e.bbox;
    const b = el('div', { className: 'box' });
    b.dataset.id = e.id;
    Object.assign(b.style, {
      left: `${(100 * x) / live.width}%`, top: `${(100 * y) / live.height}%`,
      width: `${(100 * w) / live.width}%`, height: `${(100 * h) / live.height}%`,
    });
    if (live.targets.includes(e.id)) b.classList.add('target');
    overlay.append(b);
  }
}

function highlight(id, on) {
  for (const b of document.querySelectorAll(`#overlay .box[data-id="${id}"]`)) b.classList.toggle('hover', on);
}

function drawElements() {
  const list = $('elements');
  list.replaceChildren();
  for (const e of live.elements) {
    const li = el('li', { tabIndex: 0 }, el('strong', { textContent: `[${e.id}] ` }),
      el('span', { className: 'kind', textContent: e.kind }), e.text ? ` “${e.text}”` : '');
    li.addEventListener('mouseenter', () => highlight(e.id, true));
    li.addEventListener('mouseleave', () => highlight(e.id, false));
    li.addEventListener('focus', () => highlight(e.id, true));
    li.addEventListener('blur', () => highlight(e.id, false));
    list.append(li);
  }
}

// 100 % fits the panel's width; more zooms in (the panel scrolls).
function applyZoom() {
  const img = $('shot-img');
  if (!img.naturalWidth) return;
  const fit = Math.max(200, $('shot-scroll').clientWidth - 2);
  img.style.width = `${(fit * Number($('zoom').value)) / 100}px`;
}
$('zoom').addEventListener('input', applyZoom);
window.addEventListener('resize', applyZoom);
// The window is hidden while the agent works; WebKit does not paint images that arrived
// meanwhile until they are decoded again, so decode the current one when it comes back.
document.addEventListener('visibilitychange', () => {
  const img = $('shot-img');
  if (document.visibilityState === 'visible' && img.src) {
    img.decode().catch(() => {}).finally(applyZoom);
    const src = img.src;
    img.removeAttribute('src');
    img.src = src;
  }
});
$('shot-img').addEventListener('load', () => {
  applyZoom();
  const at = live.perceivedAt[live.step];
  if (at !== undefined) live.latencies.push(Date.now() - at);
});

function stepItem(step) {
  let li = document.querySelector(`#steps li[data-step="${step}"]`);
  if (!li) {
    li = el('li', { textContent: `step ${step}` });
    li.dataset.step = step;
    $('steps').append(li);
  }
  return li;
}

const handlers = {
  step_started(e) {
    live.step = e.step;
    $('step-title').textContent = `Step ${e.step}`;
    stepItem(e.step);
  },
  perception(e) {
    live.perceivedAt[e.step] = e.at_ms;
    Object.assign(live, { width: e.width, height: e.height, elements: e.elements, targets: [] });
    drawBoxes();
    drawElements();
    $('timings').textContent = e.timings.map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(' · ');
    $('thought').textContent = '';
    $('action').textContent = '';
    $('outcome').textContent = '';
  },
  screenshot(e) {
    $('shot-img').src = e.data_url;
  },
  decision(e) {
    live.targets = e.targets;
    drawBoxes();
    $('thought').textContent = e.thought;
    $('action').textContent = `→ ${e.action}`;
    stepItem(e.step).textContent = `${e.action}`;
  },
  awaiting_confirmation(e) {
    live.askedStep = e.step;
    $('confirm-action').textContent = e.action;
    $('confirm-reason').textContent = `Why: ${e.reason}`;
    $('confirm-edit').value = e.action_json;
    $('confirm-edit').hidden = true;
    $('edit-approve').hidden = true;
    $('confirm-error').textContent = '';
    $('confirm-box').hidden = false;
    $('approve').focus();
  },
  question(e) {
    live.askedStep = e.step;
    $('question-text').textContent = e.question;
    $('question-box').hidden = false;
    $('answer').focus();
  },
  action(e) {
    if (e.dry_run) $('outcome').textContent = 'dry run: nothing was touched';
  },
  outcome(e) {
    const changed = e.screen_changed === true ? ' · the screen changed' : e.screen_changed === false ? ' · no visible change' : '';
    $('outcome').textContent = `${e.status}${changed}${e.detail ? ` — ${e.detail}` : ''}`;
    const li = stepItem(e.step);
    li.textContent = `${li.textContent} — ${e.status}`;
    live.stepsSeen = Math.max(live.stepsSeen, e.step);
  },
  replayed(e) {
    stepItem(e.step).title = e.summary.join('\n');
  },
  step_done(e) {
    const t = e.timings.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
    stepItem(e.step).append(el('div', { className: 'muted mono', textContent: `${t} ms · ${e.input_tokens}+${e.output_tokens} tokens` }));
    if (e.step === live.step) $('timings').textContent = `${t} ms · ${e.input_tokens} + ${e.output_tokens} tokens`;
  },
  paused(e) {
    live.paused = e.paused;
    setRunning(live.running);
  },
  finished(e) {
    live.paused = false;
    setRunning(false);
    $('confirm-box').hidden = true;
    $('question-box').hidden = true;
    $('state').textContent = e.status;
    $('outcome').textContent = `${e.status}: ${e.message}${e.answer ? ` — ${e.answer}` : ''} · ${e.steps} step(s), ${e.input_tokens} + ${e.output_tokens} tokens`;
  },
};

listen('agent-event', ({ payload }) => {
  const h = handlers[payload.type];
  if (h) h(payload);
});

// ---- starting and steering --------------------------------------------------------------
$('task-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('task-error').textContent = '';
  resetLive();
  live.paused = false;
  setRunning(true); // before the call: its events may come (even the end) before it returns
  const monitor = $('monitor').value;
  try {
    await invoke('run_start', {
      request: {
        task: $('task').value, profile: $('profile').value,
        monitor: monitor === '' ? null : Number(monitor),
        confirm: $('confirm').value, max_steps: Number($('max-steps').value) || 30,
      },
    });
  } catch (err) {
    setRunning(false);
    $('task-error').textContent = String(err);
  }
});

async function confirmWith(verdict, action) {
  try {
    // The step it answers: a second click lands on nothing, not on the next question.
    await invoke('run_confirm', { verdict, action: action ?? null, step: live.askedStep });
    $('confirm-box').hidden = true;
  } catch (err) {
    $('confirm-error').textContent = String(err);
  }
}
$('approve').addEventListener('click', () => confirmWith('approve'));
$('skip').addEventListener('click', () => confirmWith('skip'));
$('edit').addEventListener('click', () => {
  $('confirm-edit').hidden = false;
  $('edit-approve').hidden = false;
  $('confirm-edit').focus();
});
$('edit-approve').addEventListener('click', () => confirmWith('edit', $('confirm-edit').value));

async function answer(text) {
  try {
    await invoke('run_answer', { answer: text, step: live.askedStep });
    $('question-box').hidden = true;
  } catch (err) {
    $('question-text').textContent = String(err);
  }
}
$('send-answer').addEventListener('click', () => answer($('answer').value));
$('no-answer').addEventListener('click', () => answer(null));

const control = (cmd) => async () => {
  try { await invoke(cmd); } catch (err) { $('state').textContent = String(err); }
};
$('pause').addEventListener('click', control('run_pause'));
$('resume').addEventListener('click', control('run_resume'));
$('stop').addEventListener('click', control('run_stop'));

// ---- runs -------------------------------------------------------------------------------
let openDir = null;
async function loadRuns() {
  $('runs-error').textContent = '';
  try {
    const runs = await invoke('runs_list');
    $('runs-body').replaceChildren(...runs.map((r) => {
      const open = el('button', { type: 'button', textContent: 'Open' });
      open.addEventListener('click', () => openRun(r.dir));
      return el('tr', {},
        el('td', { textContent: r.started_at.slice(0, 19).replace('T', ' ') }),
        el('td', { textContent: r.task }), el('td', { textContent: r.source }),
        el('td', { textContent: String(r.steps) }),
        el('td', { className: `status-${r.status}`, textContent: r.status }), el('td', {}, open));
    }));
  } catch (err) {
    $('runs-error').textContent = String(err);
  }
}
$('refresh-runs').addEventListener('click', loadRuns);

async function openRun(dir) {
  try {
    const d = await invoke('run_open', { dir });
    openDir = dir;
    $('run-detail').hidden = false;
    $('detail-title').textContent = d.summary.task;
    $('detail-message').textContent = `${d.summary.source} · ${d.summary.status}: ${d.summary.message}${d.truncated ? ' · the recording was cut short' : ''}`;
    $('detail-note').textContent = '';
    $('detail-img').hidden = true;
    $('detail-steps').replaceChildren(...d.steps.map((s) => {
      const b = el('button', { type: 'button', textContent: `Step ${s.step}` });
      b.addEventListener('click', async () => {
        try {
          $('detail-img').src = await invoke('run_step_image', { dir, step: s.step });
          $('detail-img').hidden = false;
        } catch (err) { $('detail-note').textContent = String(err); }
      });
      const t = s.timings.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
      return el('li', {}, b, ` ${s.action ?? 'no decision'} — ${s.status}${s.detail ? ` (${s.detail})` : ''}`,
        el('div', { className: 'muted mono', textContent: `${t} ms · ${s.input_tokens}+${s.output_tokens} tokens${s.thought ? ` · ${s.thought}` : ''}` }));
    }));
  } catch (err) {
    $('runs-error').textContent = String(err);
  }
}

$('export').addEventListener('click', async () => {
  try { $('detail-note').textContent = `Report written to ${await invoke('run_export', { dir: openDir })}`; } catch (err) { $('detail-note').textContent = String(err); }
});
$('replay').addEventListener('click', async () => {
  const vlm = $('replay-vlm').value;
  resetLive();
  setRunning(true);
  try {
    await invoke('run_replay', {
      request: { dir: openDir, monitor: null, speed: Number($('replay-speed').value) || 1, vlm_profile: vlm || null, confirm: $('confirm').value },
    });
    show('run');
  } catch (err) {
    setRunning(false);
    $('detail-note').textContent = String(err);
  }
});

// ---- settings ---------------------------------------------------------------------------
function profileBox(p) {
  const f = $('profile-template').content.firstElementChild.cloneNode(true);
  const q = (c) => f.querySelector(c);
  q('legend').textContent = p.name || 'new profile';
  q('.p-name').value = p.name; q('.p-protocol').value = p.protocol; q('.p-url').value = p.base_url;
  q('.p-model').value = p.model; q('.p-coords').checked = !!p.coordinates;
  q('.p-note').textContent = (p.from_config ? 'From config.toml; saving an edit keeps it in the app. ' : '') +
    (p.has_key ? 'A key is stored in the system keyring.' : 'No key stored.');
  const note = (t) => { q('.p-note').textContent = t; };
  q('.p-save-key').addEventListener('click', async () => {
    try {
      await invoke('key_set', { profile: q('.p-name').value, key: q('.p-key').value });
      q('.p-key').value = '';
      note('Key stored in the system keyring.');
    } catch (err) { note(String(err)); }
  });
  q('.p-clear-key').addEventListener('click', async () => {
    try { await invoke('key_clear', { profile: q('.p-name').value }); note('Key removed.'); } catch (err) { note(String(err)); }
  });
  q('.p-test').addEventListener('click', async () => {
    note('Testing…');
    try { note(await invoke('test_connection', { profile: q('.p-name').value })); } catch (err) { note(String(err)); }
  });
  q('.p-remove').addEventListener('click', () => f.remove());
  return f;
}

function readProfiles() {
  return [...document.querySelectorAll('#profiles fieldset')].map((f) => ({
    name: f.querySelector('.p-name').value.trim(), protocol: f.querySelector('.p-protocol').value,
    base_url: f.querySelector('.p-url').value.trim(), model: f.querySelector('.p-model').value.trim(),
    coordinates: f.querySelector('.p-coords').checked,
  }));
}

async function loadSettings() {
  $('settings-error').textContent = '';
  try {
    const s = await invoke('settings_get');
    $('profiles').replaceChildren(...s.profiles.map(profileBox));
    $('detectors').value = s.detectors;
    $('mark-style').value = s.mark_style;
    $('record-dir').value = s.record_dir;
    $('record-dir').placeholder = s.default_record_dir;
    const names = s.profiles.map((p) => p.name);
    const fill = (sel, first) => {
      const keep = sel.value;
      sel.replaceChildren(...first, ...names.map((n) => el('option', { value: n, textContent: n })));
      if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    };
    fill($('profile'), []);
    fill($('replay-vlm'), [el('option', { value: '', textContent: 'stop and report' })]);
    document.body.dataset.settingsLoads = String(Number(document.body.dataset.settingsLoads || 0) + 1);
  } catch (err) {
    $('settings-error').textContent = String(err);
  }
}
$('add-profile').addEventListener('click', () => {
  $('profiles').append(profileBox({ name: '', protocol: 'openai', base_url: 'http://127.0.0.1:8000/v1', model: '', has_key: false }));
});
$('settings-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('settings-error').textContent = '';
  try {
    await invoke('settings_save', {
      settings: { profiles: readProfiles(), detectors: $('detectors').value.trim(), mark_style: $('mark-style').value, record_dir: $('record-dir').value.trim() },
    });
    $('settings-note').textContent = 'Saved.';
    await loadSettings();
  } catch (err) {
    $('settings-error').textContent = String(err);
  }
});

// ---- start ------------------------------------------------------------------------------
async function init() {
  await loadSettings();
  try {
    const ms = await invoke('monitors');
    $('monitor').replaceChildren(el('option', { value: '', textContent: 'primary' }),
      ...ms.map((m) => el('option', { value: String(m.index), textContent: `${m.index}: ${m.name} ${m.physical_width}×${m.physical_height}` })));
  } catch (err) {
    $('task-error').textContent = String(err);
  }
  try {
    const st = await invoke('run_status');
    live.paused = st.paused;
    setRunning(st.running);
  } catch (_) { /* a fresh app: nothing is running */ }
}
init();
