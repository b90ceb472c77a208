// The browser console's main thread: asks the relay for a session (the
// Portal's cookie authenticates it), signals over the relay's WebSocket,
// and speaks WebRTC straight to the Host. Frames go to the screen worker;
// input, the toolbar and notices stay here.
import * as wire from './wire.js';
import { Files } from './files.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// State the tests (and a curious technician's devtools) can read.
const state = {
  phase: 'starting', // starting, signaling, connecting, connected, ended
  session: '', permissions: [], viewOnly: true,
  frames: 0, width: 0, height: 0, origin: { x: 0, y: 0 },
  refusals: [], notices: [], pair: null, decodeMs: [], local: 0,
  transfers: [], folder: '', listing: [],
};
// onPaint, when a test sets it, is called with performance.now() as each
// frame has been painted.
window.tandemConsole = { state, onPaint: null, snapshot, selectedPair, sendInput: (m) => sendOn('input', m), upload, download, listFolder };

let ws = null, pc = null, worker = null, files = null;
const channels = {};
const reasm = {};
let remoteSet = false;
const earlyCandidates = [];

function notice(text, kind = 'info') {
  state.notices.push(text);
  const n = document.createElement('div');
  n.className = 'notice ' + kind;
  n.textContent = text;
  $('notices').append(n);
  setTimeout(() => n.remove(), kind === 'error' ? 15000 : 6000);
}

function end(why, kind = 'info') {
  if (state.phase === 'ended') return;
  state.phase = 'ended';
  $('title').textContent = 'Session ended';
  notice(why, kind);
  try { if (ws) ws.close(); } catch { /* closing anyway */ }
  try { if (pc) pc.close(); } catch { /* closing anyway */ }
}

function sendSignal(m) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ ...m, session: state.session }));
}

function sendOn(label, msg) {
  const dc = channels[label];
  if (!dc || dc.readyState !== 'open') return false;
  wire.send(dc, msg);
  return true;
}

async function start() {
  const device = params.get('device') || '';
  const ondemand = document.querySelector('meta[name="tandem-ondemand"]')?.content || '';
  if (!device && !ondemand) { end('No device chosen: open the console from My devices or My sessions.', 'error'); return; }
  let res, body;
  try {
    res = await fetch('/console/session', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(ondemand ? { ondemand } : { device, action: 'remote_control' }),
    });
    body = await res.json();
  } catch (e) {
    end('The relay could not be reached: ' + e.message, 'error');
    return;
  }
  if (res.status === 202 && body.confirmation) {
    end('This session needs someone to allow it by email first; start it again once it is allowed.', 'error');
    return;
  }
  if (!res.ok) {
    end((body.error && body.error.message) || ('The relay refused the session (' + res.status + ').'), 'error');
    return;
  }
  state.session = body.session_id;
  state.permissions = body.permissions || [];
  state.phase = 'signaling';
  $('title').textContent = 'Waiting for the device…';
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${scheme}//${location.host}/console/signal/${encodeURIComponent(state.session)}`);
  ws.onmessage = (e) => onSignal(JSON.parse(e.data), body.ice_servers || []);
  ws.onclose = () => { if (state.phase !== 'connected') end('The relay closed the signaling connection.', 'error'); };
}

async function onSignal(m, iceServers) {
  switch (m.type) {
    case 'ready':
      await offer(iceServers);
      break;
    case 'answer':
      await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      remoteSet = true;
      for (const c of earlyCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      break;
    case 'candidate':
      if (!m.candidate) break;
      if (!remoteSet) { if (earlyCandidates.length < 256) earlyCandidates.push(m.candidate); break; }
      await pc.addIceCandidate(m.candidate).catch((e) => console.warn('candidate', e));
      break;
    case 'bye':
      end('The session ended: ' + (m.message || m.code || 'the other side left') + '.');
      break;
    case 'error':
      end('The relay refused: ' + (m.message || m.code) + '.', 'error');
      break;
  }
}

async function offer(iceServers) {
  state.phase = 'connecting';
  const cfg = { iceServers: iceServers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })) };
  // ?relay=1 forces TURN (iceTransportPolicy "relay"): a technician's
  // diagnosis of a network where peer-to-peer fails, and the TURN test.
  if (params.get('relay') === '1') cfg.iceTransportPolicy = 'relay';
  pc = new RTCPeerConnection(cfg);
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.candidate) sendSignal({ type: 'candidate', candidate: e.candidate.toJSON() }); };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed') end('The connection to the device failed (no network path, and TURN did not help).', 'error');
    if (pc.connectionState === 'disconnected') notice('The connection to the device is interrupted…', 'error');
  };
  for (const label of ['control', 'input', 'screen', 'files', 'exec']) {
    const dc = pc.createDataChannel(label);
    dc.binaryType = 'arraybuffer';
    channels[label] = dc;
    reasm[label] = new wire.Reassembler();
    dc.onmessage = (e) => onData(label, new Uint8Array(e.data));
    dc.onclose = () => { if (label === 'control') end('The device closed the session.'); };
  }
  channels.control.onopen = () => wire.send(channels.control, wire.hello());
  files = new Files(channels.files);
  const o = await pc.createOffer();
  await pc.setLocalDescription(o);
  sendSignal({ type: 'offer', sdp: pc.localDescription.sdp });
}

function onData(label, frag) {
  let b;
  try {
    b = reasm[label].push(frag);
  } catch (e) {
    console.warn('fragment', e);
    return;
  }
  if (!b) return;
  let m;
  try {
    m = wire.decode(b);
  } catch (e) {
    console.warn('malformed message from the host', e);
    return;
  }
  if (label === 'files') { files.onMessage(m); return; }
  switch (m.type) {
    case wire.T.SessionInfo: onInfo(m); break;
    case wire.T.ScreenFrame: onFrame(m); break;
    case wire.T.CursorShape: cursor.shape(m); break;
    case wire.T.CursorPos: cursor.move(m); break;
    case wire.T.Ping: sendOn(label, wire.pong(m.id, m.nano)); break;
    case wire.T.Error:
      state.refusals.push(m);
      notice('The device refused: ' + m.message, 'error');
      break;
    case wire.T.Bye: end('The device ended the session: ' + m.reason + '.'); break;
    case wire.T.Chat: chatLine('Device', m.text); break;
    case wire.T.PowerDone: notice('The device is doing it.'); break;
    case wire.T.LocalState:
      // The host says what its local user's input and screen are now.
      state.local = m.flags;
      $('lock-input').setAttribute('aria-pressed', String((m.flags & wire.LOCAL_INPUT_LOCKED) !== 0));
      $('blank-screen').setAttribute('aria-pressed', String((m.flags & wire.LOCAL_SCREEN_BLANKED) !== 0));
      break;
    case wire.T.ClipboardText:
      state.clipboard = m.text;
      navigator.clipboard?.writeText(m.text).then(() => notice('The device\'s clipboard is on yours.'),
        () => notice('The device copied text; allow clipboard access to receive it.'));
      break;
  }
}

function onInfo(m) {
  state.permissions = m.permissions;
  state.viewOnly = !m.permissions.includes('keyboard_mouse');
  state.phase = 'connected';
  $('title').textContent = (m.monitors.length ? 'Connected' : 'Connected') + ' — ' + (params.get('device') || 'device');
  $('mode').hidden = !state.viewOnly;
  $('stage').classList.toggle('viewonly', state.viewOnly);
  const sel = $('monitor');
  sel.replaceChildren(new Option('All monitors', '-1'));
  m.monitors.forEach((mon, i) => sel.append(new Option(`${mon.name || 'Monitor ' + (i + 1)} (${mon.width}×${mon.height})`, String(i))));
  sel.value = String(m.active);
  sel.disabled = m.monitors.length < 2;
  $('power').disabled = !m.permissions.includes('power');
  $('clip-send').disabled = !m.permissions.includes('clipboard');
  $('lock-input').disabled = !m.permissions.includes('lock_input');
  $('blank-screen').disabled = !m.permissions.includes('blank_screen');
  $('chat-toggle').disabled = !m.permissions.includes('chat');
  $('files-toggle').disabled = !m.permissions.includes('file_transfer');
  if (!state.viewOnly) attachInput();
  pc.getStats().then(recordPair);
}

// --- screen -----------------------------------------------------------------

let snapshots = 0;
const waiting = new Map();

function startWorker() {
  worker = new Worker('/console/static/worker.js', { type: 'module' });
  const off = $('canvas').transferControlToOffscreen();
  worker.postMessage({ canvas: off }, [off]);
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.done !== undefined) {
      state.frames++;
      if (window.tandemConsole.onPaint) window.tandemConsole.onPaint(performance.now()); // a bench's hook
      state.decodeMs.push(m.ms);
      if (state.decodeMs.length > 1000) state.decodeMs.shift();
      if (m.w !== state.width || m.h !== state.height) {
        state.width = m.w; state.height = m.h;
        cursor.place();
      }
      sendOn('screen', wire.frameAck(m.done, m.nano));
    } else if (m.needKeyframe !== undefined) {
      console.warn('screen:', m.needKeyframe);
      sendOn('control', wire.keyframeRequest());
    } else if (m.snapshot !== undefined) {
      const r = waiting.get(m.snapshot);
      waiting.delete(m.snapshot);
      if (r) r(m);
    }
  };
}

function onFrame(m) {
  if (m.codec !== wire.CODEC_TILES_V2) { console.warn('unsupported codec', m.codec); return; }
  state.origin = { x: m.x, y: m.y };
  // The payload may alias the reassembly buffer: copy it into its own
  // buffer, transferred (not copied again) to the worker.
  const data = m.data.slice();
  worker.postMessage({ frame: data.buffer, seq: m.seq, nano: m.nano }, [data.buffer]);
}

// snapshot resolves with the canvas's pixels as painted (RGBA, base64).
function snapshot() {
  const id = ++snapshots;
  return new Promise((resolve) => {
    waiting.set(id, (m) => {
      if (!m.w) { resolve({ w: 0, h: 0, pix: '' }); return; }
      let s = '';
      for (let k = 0; k < m.pix.length; k += 0x8000) s += String.fromCharCode.apply(null, m.pix.subarray(k, k + 0x8000));
      resolve({ w: m.w, h: m.h, pix: btoa(s), origin: state.origin, frames: state.frames });
    });
    worker.postMessage({ snapshot: id });
  });
}

// --- the pointer, its own layer ------------------------------------------------

const cursor = {
  shapes: new Map(), id: 0, x: 0, y: 0,
  shape(m) {
    if (this.shapes.size > 64 && !this.shapes.has(m.id)) this.shapes.clear();
    this.shapes.set(m.id, m);
    if (m.id === this.id) this.draw();
  },
  move(m) {
    const changed = m.id !== this.id;
    this.id = m.id; this.x = m.x; this.y = m.y;
    if (changed) this.draw();
    this.place();
  },
  draw() {
    const s = this.shapes.get(this.id), c = $('cursor');
    if (!s) { c.hidden = true; return; }
    c.width = s.width; c.height = s.height;
    c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(s.pix), s.width, s.height), 0, 0);
    c.hidden = false;
  },
  place() {
    const s = this.shapes.get(this.id), canvas = $('canvas'), c = $('cursor');
    if (!s || !state.width) return;
    const k = canvas.clientWidth / state.width;
    const x = (this.x - state.origin.x - s.hotX) * k, y = (this.y - state.origin.y - s.hotY) * k;
    c.style.transform = `translate(${x}px, ${y}px) scale(${k})`;
  },
};
new ResizeObserver(() => cursor.place()).observe($('canvas'));

// --- input ----------------------------------------------------------------------

// Modifier toolbar: off → next key → always on → off.
const mods = new Map(); // code → 'next' | 'always'

function modButton(b) {
  const code = b.dataset.code, cur = mods.get(code);
  const next = !cur ? 'next' : cur === 'next' ? 'always' : undefined;
  if (next) mods.set(code, next); else mods.delete(code);
  b.setAttribute('aria-pressed', String(!!next));
  b.classList.toggle('always', next === 'always');
  if (!state.viewOnly) sendOn('input', wire.key(code, !!next)); // held on the host while set
  $('stage').focus();
}

function releaseNextMods() {
  for (const [code, how] of mods) {
    if (how !== 'next') continue;
    mods.delete(code);
    sendOn('input', wire.key(code, false));
    const b = document.querySelector(`.mod[data-code="${code}"]`);
    b.setAttribute('aria-pressed', 'false');
  }
}

function hostPoint(e) {
  const c = $('canvas'), r = c.getBoundingClientRect();
  const x = Math.floor((e.clientX - r.left) * state.width / r.width) + state.origin.x;
  const y = Math.floor((e.clientY - r.top) * state.height / r.height) + state.origin.y;
  return [x, y];
}

let inputAttached = false;
let wheelY = 0, wheelX = 0;

function attachInput() {
  if (inputAttached) return;
  inputAttached = true;
  const stage = $('stage'), canvas = $('canvas');
  stage.addEventListener('keydown', (e) => {
    if (!e.code || e.isComposing) return;
    e.preventDefault();
    sendOn('input', wire.key(e.code, true));
  });
  stage.addEventListener('keyup', (e) => {
    if (!e.code || e.isComposing) return;
    e.preventDefault();
    sendOn('input', wire.key(e.code, false));
    if (!/^(Shift|Control|Alt|Meta)/.test(e.code)) releaseNextMods();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!state.width) return;
    const [x, y] = hostPoint(e);
    sendOn('input', wire.mouseMove(x, y));
  });
  canvas.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    stage.focus();
    canvas.setPointerCapture(e.pointerId); // a drag keeps going outside the canvas
    const [x, y] = hostPoint(e);
    sendOn('input', wire.mouseMove(x, y));
    sendOn('input', wire.mouseButton(buttonOf(e), true));
  });
  canvas.addEventListener('pointerup', (e) => {
    e.preventDefault();
    const [x, y] = hostPoint(e);
    sendOn('input', wire.mouseMove(x, y));
    sendOn('input', wire.mouseButton(buttonOf(e), false));
    releaseNextMods();
  });
  canvas.addEventListener('contextmenu', (e) => e.preventDefault());
  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    // Notches: lines count one each, pixels a notch per 100.
    const unit = e.deltaMode === 1 ? 1 : e.deltaMode === 2 ? 3 : 1 / 100;
    wheelY += e.deltaY * unit; wheelX += e.deltaX * unit;
    const ny = Math.trunc(wheelY), nx = Math.trunc(wheelX);
    if (ny || nx) {
      wheelY -= ny; wheelX -= nx;
      sendOn('input', wire.mouseWheel(Math.max(-32768, Math.min(32767, nx)), Math.max(-32768, Math.min(32767, ny))));
    }
  }, { passive: false });
}

// buttonOf maps DOM buttons (0 left, 1 middle, 2 right, 3 back, 4 forward)
// to the wire's (1 left, 2 middle, 3 right, 4 back, 5 forward).
const buttonOf = (e) => Math.min(5, Math.max(1, e.button + 1));

// --- toolbar ----------------------------------------------------------------------

async function selectedPair() {
  if (!pc) return null;
  recordPair(await pc.getStats());
  return state.pair;
}

function recordPair(stats) {
  let pairId = null, bytes = 0;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) { pairId = s.selectedCandidatePairId; bytes = s.bytesReceived; }
  });
  const p = pairId && stats.get(pairId);
  if (!p) return;
  const l = stats.get(p.localCandidateId), r = stats.get(p.remoteCandidateId);
  // bytesReceived: the transport's, as the desktop console's Session.BytesReceived.
  state.pair = { local: l && l.candidateType, remote: r && r.candidateType, bytesReceived: bytes };
}

let chatSeq = 0, powerId = 0;

function chatLine(who, text) {
  const li = document.createElement('li');
  li.textContent = `${who}: ${text}`;
  $('chat-log').append(li);
}

function toolbar() {
  $('view').addEventListener('change', (e) => {
    $('stage').classList.toggle('fit', e.target.value === 'fit');
    cursor.place();
  });
  $('monitor').addEventListener('change', (e) => sendOn('control', wire.selectMonitor(Number(e.target.value))));
  $('fullscreen').addEventListener('click', async () => {
    try {
      await document.documentElement.requestFullscreen();
      // Keys like Escape and Alt+Tab go to the host where the browser lets them.
      if (navigator.keyboard && navigator.keyboard.lock) await navigator.keyboard.lock().catch(() => {});
    } catch (e) { notice('Full screen is not available: ' + e.message, 'error'); }
  });
  document.querySelectorAll('.mod').forEach((b) => b.addEventListener('click', () => modButton(b)));
  $('power').addEventListener('change', (e) => {
    const v = Number(e.target.value), label = e.target.selectedOptions[0].textContent;
    e.target.value = '';
    if (!v) return;
    if (v !== 2 && v !== 5 && !confirm(`${label} the remote device? Its user may lose unsaved work.`)) return;
    sendOn('control', wire.powerAction(++powerId, v));
  });
  $('clip-send').addEventListener('click', async () => {
    try {
      const t = await navigator.clipboard.readText();
      sendOn('control', wire.clipboardText(t));
      notice('Your clipboard is on the device.');
    } catch (e) { notice('The browser did not allow reading the clipboard.', 'error'); }
  });
  // Lock input and Blank screen ask; the pressed state follows the host's
  // LocalState answer, not the click.
  $('lock-input').addEventListener('click', (e) =>
    sendOn('control', wire.inputLock(e.currentTarget.getAttribute('aria-pressed') !== 'true')));
  $('blank-screen').addEventListener('click', (e) =>
    sendOn('control', wire.screenBlank(e.currentTarget.getAttribute('aria-pressed') !== 'true')));
  $('chat-toggle').addEventListener('click', (e) => {
    const open = $('chat').hidden;
    $('chat').hidden = !open;
    e.target.setAttribute('aria-expanded', String(open));
  });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const t = $('chat-text').value.trim();
    if (!t) return;
    if (sendOn('control', wire.chat(++chatSeq, t))) chatLine('You', t);
    $('chat-text').value = '';
  });
  $('minimise').addEventListener('click', (e) => {
    const min = $('toolbar').classList.toggle('min');
    e.target.textContent = min ? 'Show toolbar' : 'Hide toolbar';
    e.target.setAttribute('aria-expanded', String(!min));
  });
  $('disconnect').addEventListener('click', () => {
    sendOn('control', wire.bye('technician disconnected'));
    sendSignal({ type: 'bye', message: 'technician disconnected' });
    end('You disconnected.');
  });
  window.addEventListener('pagehide', () => sendSignal({ type: 'bye', message: 'technician closed the console' }));
}

// --- files ---------------------------------------------------------------------------

// A path on the Host: '/'-separated, relative to its transfer folder. A
// dropped file's name is sent as it is: the Host refuses names that would
// leave its folder, and the refusal is shown.
const join = (dir, name) => (dir ? dir + '/' : '') + name;

async function listFolder(path = state.folder) {
  try {
    const l = await files.list(path);
    state.folder = path;
    state.listing = l.entries;
    $('files-path').textContent = '/' + path;
    const ul = $('files-list');
    ul.replaceChildren();
    for (const e of l.entries) {
      const li = document.createElement('li');
      if (e.mode & wire.FILE_MODE_DIR) {
        const b = document.createElement('button');
        b.className = 'dir';
        b.textContent = e.name + '/';
        b.addEventListener('click', () => listFolder(join(path, e.name)));
        li.append(b);
      } else {
        const name = document.createElement('span');
        name.textContent = `${e.name} (${e.size} bytes)`;
        const b = document.createElement('button');
        b.textContent = 'Download';
        b.dataset.name = e.name;
        b.addEventListener('click', () => download(join(path, e.name)));
        li.append(name, b);
      }
      ul.append(li);
    }
    if (l.truncated) notice('The folder has more entries than are shown.');
    return l.entries.length;
  } catch (e) {
    notice('The device refused the folder: ' + e.message, 'error');
    return -1;
  }
}

// transfer is the record of one upload or download, shown in the panel.
function transfer(dir, name, onProgress) {
  const t = { dir, name, done: 0, total: 0, status: 'waiting', error: '', cancel: () => {} };
  t.progress = () => {
    $('transfer-progress').max = t.total || 1;
    $('transfer-progress').value = t.done;
    onProgress?.(t);
  };
  state.transfers.push(t);
  $('transfer-name').textContent = `${dir === 'put' ? 'Uploading' : 'Downloading'} ${name}`;
  $('transfer').hidden = false;
  $('transfer-cancel').onclick = () => t.cancel();
  return t;
}

function failed(t, e) {
  t.status = 'failed';
  t.error = e.message;
  t.code = e.code || 0;
  notice(`${t.dir === 'put' ? 'Upload' : 'Download'} of ${t.name} failed: ${e.message}`, 'error');
}

// upload sends a File to the current folder (or to path); an existing
// file is replaced only after the technician confirms.
async function upload(file, path = join(state.folder, file.name), { onProgress } = {}) {
  const t = transfer('put', path, onProgress);
  try {
    try {
      await files.put(file, path, t);
    } catch (e) {
      if (e.code !== wire.ERR_EXISTS || !confirm(`${path} exists on the device. Replace it?`)) throw e;
      await files.put(file, path, t, { overwrite: true });
    }
    notice(`Uploaded ${path}.`);
    listFolder();
  } catch (e) { failed(t, e); }
  return t;
}

// download fetches a file from the Host and hands it to the browser's
// downloads once its digest matches.
async function download(path, { onProgress } = {}) {
  const t = transfer('get', path, onProgress);
  try {
    const r = await files.get(path, t);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(r.blob);
    a.download = path.split('/').pop();
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    t.sha256 = r.sha256;
    notice(`Downloaded ${path}.`);
  } catch (e) { failed(t, e); }
  return t;
}

function filesPanel() {
  $('files-toggle').addEventListener('click', (e) => {
    const open = $('files').hidden;
    $('files').hidden = !open;
    e.target.setAttribute('aria-expanded', String(open));
    if (open) listFolder();
  });
  $('files-up').addEventListener('click', () => listFolder(state.folder.split('/').slice(0, -1).join('/')));
  $('file-input').addEventListener('change', async (e) => {
    for (const f of Array.from(e.target.files)) await upload(f);
    e.target.value = '';
  });
  const stage = $('stage');
  stage.addEventListener('dragover', (e) => {
    if ($('files-toggle').disabled) return;
    e.preventDefault();
    stage.classList.add('drop');
  });
  stage.addEventListener('dragleave', () => stage.classList.remove('drop'));
  stage.addEventListener('drop', async (e) => {
    e.preventDefault();
    stage.classList.remove('drop');
    if ($('files-toggle').disabled) { notice('This session may not transfer files.', 'error'); return; }
    for (const f of Array.from(e.dataTransfer.files)) await upload(f);
  });
}

filesPanel();
toolbar();
startWorker();
start();
