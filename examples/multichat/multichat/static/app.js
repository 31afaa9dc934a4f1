// multichat client, an ES module. Everything users type reaches the page through
// textContent, never innerHTML. The socket speaks the multichat protocol (see the package
// documentation) through the framework's browser client, gochannels.js (served by
// jsclient.Handler): it reconnects with backoff and jitter, remembers each room's position
// from the "pos" of the frames, resumes the rooms from there on a reconnect (?resume=), and
// reports "recovered" / "unrecoverable". This file shows its state (online, offline with a
// countdown and "Retry now", busy) and says so in the room when missed messages could not be
// restored, the room then being reloaded from the archive.
//
// Delivery: a message the user sends leaves the box at once and shows in the room as
// "sending…" until the server acknowledges it (the message comes back on this socket with the
// client_id the page chose). Without an acknowledgement — an error for that client_id, the
// socket closing first, or no answer within ACK_TIMEOUT — it stays in the room marked
// "not sent" with Retry and Edit (Edit puts the text back in the box); if it did arrive, it
// comes back among the messages replayed after the reconnect, with its client_id, and is
// acknowledged then (one bubble, delivered). A message refused as
// too long, or because the user is sending too fast, goes back into the box instead (if the
// box is empty), so typed text is never lost silently.
import { GoChannels } from '/gochannels.js';

var me = document.body.dataset.username;
var MAX_LEN = 2000;          // characters (Unicode code points), as the server counts
var COUNTER_FROM = 1800;     // show the counter from here
var ACK_TIMEOUT = 8000;      // ms without an acknowledgement: the message failed
var PING_EVERY = 20000;      // ms between checks that the server carries messages
var PING_TIMEOUT = 8000;     // ms without a pong: the server is busy
var rooms = new Map(); // id → {id, title, staff, joined, unread, msgs: [], seen: Set, epoch, who: Map}
var pending = new Map(); // client_id → {cid, room, text, m, timer}
var current = null;
var connState = 'connecting', busyAfterOpen = false, opened = false;
var pingTimer = null, pingWait = null;
var cooldownUntil = 0, cooldownTimer = null;
var focusOnJoin = null; // the room the user asked to join: the message box gets focus then
// The socket. The module keeps each room's position from the frames' "pos" and sends them
// as ?resume= on every reconnect: the server replays the missed messages, then says
// "recovered" and sends a join reply with "resumed" (the page keeps its messages).
var gc = new GoChannels('/chat/stream/', {minDelay: 500, maxDelay: 15000});

var el = function (id) { return document.getElementById(id); };
var statusEl = el('status'), retryBtn = el('retrynow'), msgsEl = el('messages');
var joinedEl = el('joined'), othersEl = el('others');
var titleEl = el('roomtitle'), leaveBtn = el('leave'), composer = el('composer');
var textEl = el('text'), emptyEl = el('empty'), emptyText = el('empty-text'), toastEl = el('toast');
var whoEl = el('who'), whoCountEl = el('whocount'), whoListEl = el('wholist');
var noteEl = el('composer-note'), counterEl = el('counter'), sendBtn = el('send');
var menuBtn = el('menu'), sidebar = el('sidebar'), scrim = el('scrim');
var phone = window.matchMedia('(max-width: 700px)');

function make(tag, cls, text) {
  var n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

function chars(s) { return Array.from(s).length; }

function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

var toastTimer = null;
function toast(text) {
  toastEl.textContent = text;
  toastEl.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(function () { toastEl.hidden = true; }, 5000);
}

// note says something about the message box, next to it; warn marks a refusal.
var noteTimer = null;
function note(text, warn, keep) {
  noteEl.textContent = text;
  noteEl.classList.toggle('warn', !!warn);
  clearTimeout(noteTimer);
  if (text && !keep) noteTimer = setTimeout(function () { noteEl.textContent = ''; }, 6000);
}

// --- the page's own sentences for the server's error codes ---

var errorText = {
  ROOM_INVALID: 'That room no longer exists.',
  ROOM_ACCESS_DENIED: 'You are not in that room (only staff may join staff rooms).',
  USER_HAS_TO_LOGIN: 'Please log in again.',
  MESSAGE_TOO_LONG: 'That message is longer than ' + MAX_LEN.toLocaleString('en') + ' characters.',
  MESSAGE_EMPTY: 'That message is empty.',
  RATE_LIMITED: 'You are sending quickly.',
  BAD_COMMAND: 'The page and the server did not understand each other. Reload the page.',
  UNAVAILABLE: 'The server is busy and could not deliver it.'
};
function sentence(code) { return errorText[code] || 'Something went wrong on the server.'; }

// --- connection state ---

// setStatus shows the connection state; count (the retry countdown) is shown but not
// announced, so a screen reader hears each state once, not every second.
var countEl = make('span', 'count');
countEl.setAttribute('aria-hidden', 'true');
function setStatus(s, label, count) {
  if (s !== connState || statusEl.firstChild === null || statusEl.firstChild.textContent !== label) {
    statusEl.className = 'status ' + s;
    statusEl.replaceChildren(document.createTextNode(label), countEl);
  }
  connState = s;
  countEl.textContent = count || '';
  document.body.dataset.status = s;
  retryBtn.hidden = !(s === 'offline' || (s === 'busy' && !connected()));
}

// countdown shows the wait until the next reconnect (the module's "countdown" event).
function countdown(secs) {
  if (gc.state !== 'retrying') return;
  setStatus(busyAfterOpen ? 'busy' : 'offline', busyAfterOpen ? 'reconnecting — server busy' : 'offline',
    ' — retrying in ' + secs + 's');
}

function markBusy() {
  if (!connected()) return;
  setStatus('busy', 'server busy — messages may be delayed');
  clearTimeout(pingTimer);
  pingTimer = setTimeout(ping, 3000);
}
function markOnline() {
  if (connected() && connState !== 'online') setStatus('online', 'online');
}

function ping() {
  clearTimeout(pingTimer);
  pingTimer = setTimeout(ping, connState === 'busy' ? 3000 : PING_EVERY);
  if (!connected() || pingWait) return;
  gc.send({command: 'ping', client_id: 'ping'});
  pingWait = setTimeout(function () { pingWait = null; markBusy(); }, PING_TIMEOUT);
}

function room(id, title, staff) {
  var r = rooms.get(id);
  if (!r) {
    r = {id: id, title: title || ('Room ' + id), staff: !!staff, joined: false, unread: 0, msgs: [], seen: new Set(),
      epoch: '', who: new Map()};
    rooms.set(id, r);
  }
  if (title) r.title = title;
  if (staff !== undefined) r.staff = !!staff;
  return r;
}

// --- who's online ---

// setMembers replaces a room's members (user id → {name, sids}), from a join reply or who answer.
function setMembers(r, list) {
  r.who = new Map();
  (list || []).forEach(function (m) { r.who.set(m.user_id, {name: m.name, sids: new Set(m.sids || [])}); });
}

// presenceEvent applies one socket's join or leave: a user is online while any of their sockets is.
function presenceEvent(r, d) {
  var u = r.who.get(d.user_id);
  if (d.presence === 'join') {
    if (!u) { u = {name: d.name, sids: new Set()}; r.who.set(d.user_id, u); }
    u.sids.add(d.sid);
  } else if (u) {
    u.sids.delete(d.sid);
    if (u.sids.size === 0) r.who.delete(d.user_id);
  }
}

function renderWho() {
  var r = current && rooms.get(current);
  if (!r || !r.joined || r.who.size === 0) { whoEl.hidden = true; return; }
  var names = Array.from(r.who.values(), function (u) { return u.name; }).sort();
  whoEl.hidden = false;
  whoCountEl.textContent = r.who.size + ' online';
  whoEl.title = names.join(', ');
  whoListEl.replaceChildren();
  names.forEach(function (n) { whoListEl.appendChild(make('li', n === me ? 'me' : '', n)); });
}

function time(ts) {
  if (!ts) return '';
  var d = new Date(ts);
  return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
}

// --- rendering ---

function roomButton(r) {
  var b = make('button', 'room' + (r.joined ? ' joined' : '') + (r.id === current ? ' active' : ''));
  b.type = 'button';
  b.dataset.room = r.id;
  if (r.id === current) b.setAttribute('aria-current', 'true');
  b.appendChild(make('span', 'name', r.title));
  var label = r.title + (r.staff ? ', staff only' : '');
  if (r.staff) b.appendChild(make('span', 'lock', 'staff'));
  if (!r.joined) {
    b.appendChild(make('span', 'join', 'Join'));
    label = 'Join ' + label;
  } else if (r.unread > 0) {
    var u = make('span', 'unread', r.unread > 99 ? '99+' : String(r.unread));
    b.appendChild(u);
    label += ', ' + plural(r.unread, 'unread message', 'unread messages');
  }
  b.setAttribute('aria-label', label);
  b.addEventListener('click', function () { openRoom(r.id); });
  var li = make('li');
  li.appendChild(b);
  return li;
}

function renderRooms() {
  var focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.room : undefined;
  joinedEl.replaceChildren();
  othersEl.replaceChildren();
  var total = 0, nj = 0, no = 0;
  rooms.forEach(function (r) {
    if (r.joined) { joinedEl.appendChild(roomButton(r)); nj++; total += r.unread; } else { othersEl.appendChild(roomButton(r)); no++; }
  });
  el('joined-empty').hidden = nj > 0;
  el('others-empty').hidden = no > 0 || rooms.size === 0;
  if (focused) {
    var again = sidebar.querySelector('button[data-room="' + focused + '"]');
    if (again) again.focus();
  }
  document.title = (total ? '(' + total + ') ' : '') + 'multichat';
}

function messageNode(m) {
  if (m.kind === 'notice') {
    var n = make('li', 'notice');
    n.appendChild(make('span', 'text', m.text));
    n.appendChild(make('time', 'ts', time(m.ts)));
    return n;
  }
  var own = m.username === me;
  var li = make('li', 'msg' + (own ? ' own' : '') + (m.state ? ' ' + m.state : ''));
  li.dataset.id = m.id || '';
  if (m.cid) li.dataset.cid = m.cid;
  var meta = make('div', 'meta');
  meta.appendChild(make('span', 'who', own ? 'you' : m.username));
  meta.appendChild(make('time', 'ts', time(m.ts)));
  if (m.state === 'pending') meta.appendChild(make('span', 'state', 'sending…'));
  if (m.state === 'failed') meta.appendChild(make('span', 'state', 'not sent'));
  li.appendChild(meta);
  li.appendChild(make('div', 'body', m.text));
  if (m.state === 'failed') {
    var act = make('div', 'actions');
    act.appendChild(make('span', 'reason', m.reason || ''));
    var retry = make('button', 'ghost small retry', 'Retry');
    retry.type = 'button';
    retry.setAttribute('aria-label', 'Retry sending: ' + m.text.slice(0, 60));
    retry.addEventListener('click', function () { retrySend(m.cid); });
    var edit = make('button', 'ghost small edit', 'Edit');
    edit.type = 'button';
    edit.setAttribute('aria-label', 'Put back in the message box: ' + m.text.slice(0, 60));
    edit.addEventListener('click', function () { editFailed(m.cid); });
    act.appendChild(retry);
    act.appendChild(edit);
    li.appendChild(act);
  }
  return li;
}

function redraw(m) {
  var old = m.cid && msgsEl.querySelector('li[data-cid="' + m.cid + '"]');
  if (!old) return;
  var hadFocus = old.contains(document.activeElement);
  var fresh = messageNode(m);
  old.replaceWith(fresh);
  if (hadFocus) (fresh.querySelector('button') || textEl).focus();
}

function renderMain() {
  var r = current && rooms.get(current);
  // Re-rendering a room is not news: keep screen readers from reading it all out.
  msgsEl.setAttribute('aria-live', 'off');
  msgsEl.replaceChildren();
  renderWho();
  if (!r || !r.joined) {
    titleEl.textContent = r ? r.title : 'Pick a room';
    leaveBtn.hidden = true;
    composer.hidden = true;
    msgsEl.hidden = true;
    emptyEl.hidden = false;
    if (r) {
      emptyText.textContent = 'Joining ' + r.title + '…';
    } else if (phone.matches) {
      emptyText.textContent = 'No room is open. Open the room list with ☰ and choose a room.';
    } else {
      emptyText.textContent = 'No room is open. Choose a room from the list to join it; rooms you join stay open in every tab.';
    }
    return;
  }
  titleEl.textContent = r.title;
  leaveBtn.hidden = false;
  composer.hidden = false;
  r.msgs.forEach(function (m) { msgsEl.appendChild(messageNode(m)); });
  showEmptyIfNone(r);
  msgsEl.scrollTop = msgsEl.scrollHeight;
  setTimeout(function () { msgsEl.setAttribute('aria-live', 'polite'); }, 0);
}

function showEmptyIfNone(r) {
  var none = r.msgs.length === 0;
  msgsEl.hidden = none;
  emptyEl.hidden = !none;
  if (none) emptyText.textContent = 'No messages in ' + r.title + ' yet. Say hello!';
}

function add(r, m) {
  if (m.id) {
    if (r.seen.has(m.id)) return false;
    r.seen.add(m.id);
  }
  r.msgs.push(m);
  if (r.msgs.length > 500) r.msgs.splice(0, r.msgs.length - 500);
  if (r.id === current) {
    var atBottom = msgsEl.scrollHeight - msgsEl.scrollTop - msgsEl.clientHeight < 60;
    msgsEl.appendChild(messageNode(m));
    showEmptyIfNone(r);
    if (atBottom || m.username === me) msgsEl.scrollTop = msgsEl.scrollHeight;
  }
  return true;
}

function removeMsg(r, m) {
  var i = r.msgs.indexOf(m);
  if (i >= 0) r.msgs.splice(i, 1);
  var node = m.cid && msgsEl.querySelector('li[data-cid="' + m.cid + '"]');
  if (node) node.remove();
  if (r.id === current) showEmptyIfNone(r);
}

// --- sending, acknowledgements, failures ---

function newClientID() {
  var b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'c' + Array.from(b, function (x) { return (x < 16 ? '0' : '') + x.toString(16); }).join('');
}

function connected() { return gc.state === 'open'; }

// transmit sends a message with its client_id: the message coming back with that
// client_id is its acknowledgement (see acknowledge).
function transmit(p) {
  p.m.state = 'pending';
  p.m.reason = '';
  gc.send({command: 'send', room: p.room, message: p.text, client_id: p.cid});
  clearTimeout(p.timer);
  p.timer = setTimeout(function () { fail(p, 'No answer from the server.'); }, ACK_TIMEOUT);
  redraw(p.m);
}

function fail(p, reason) {
  if (p.m.state !== 'pending') return;
  clearTimeout(p.timer);
  p.m.state = 'failed';
  p.m.reason = reason;
  redraw(p.m);
  toast('A message was not sent. It is kept in the room: use Retry to send it again.');
}

// restore puts a refused message back in the box (when the box is empty) and takes its
// bubble away; otherwise the bubble stays, failed, with Retry and Edit.
function restore(p, reason) {
  clearTimeout(p.timer);
  var r = rooms.get(p.room);
  if (!textEl.value && r && p.room === current) {
    pending.delete(p.cid);
    removeMsg(r, p.m);
    textEl.value = p.text;
    updateCounter();
    return true;
  }
  p.m.state = 'pending';
  fail(p, reason);
  return false;
}

function retrySend(cid) {
  var p = pending.get(cid);
  if (!p) return;
  if (!connected()) { toast('Not connected yet. Retry once the page is back online.'); return; }
  if (Date.now() < cooldownUntil) { cooldownNote(); return; }
  transmit(p);
}

function editFailed(cid) {
  var p = pending.get(cid);
  if (!p) return;
  if (textEl.value.trim()) { toast('Send or clear what you are typing first, then choose Edit.'); return; }
  pending.delete(cid);
  clearTimeout(p.timer);
  var r = rooms.get(p.room);
  if (r) removeMsg(r, p.m);
  textEl.value = p.text;
  updateCounter();
  textEl.focus();
}

function acknowledge(p, d) {
  pending.delete(p.cid);
  clearTimeout(p.timer);
  var r = rooms.get(p.room);
  if (!r) return;
  if (d.id && r.seen.has(d.id)) { // it had arrived already (e.g. in the history after a reconnect)
    removeMsg(r, p.m);
    return;
  }
  if (d.id) r.seen.add(d.id);
  p.m.state = '';
  p.m.id = d.id;
  p.m.ts = d.ts || p.m.ts;
  var node = msgsEl.querySelector('li[data-cid="' + p.cid + '"]');
  if (node) node.replaceWith(messageNode(p.m));
}

function cooldownNote() {
  var secs = Math.max(1, Math.ceil((cooldownUntil - Date.now()) / 1000));
  note('You are sending quickly. You can send again in ' + plural(secs, 'second', 'seconds') + '; your message is kept.', true, true);
}

function startCooldown(seconds) {
  cooldownUntil = Date.now() + Math.max(0.2, Number(seconds) || 1) * 1000;
  cooldownNote();
  clearInterval(cooldownTimer);
  cooldownTimer = setInterval(function () {
    if (Date.now() >= cooldownUntil) {
      clearInterval(cooldownTimer);
      note('You can send again now.', false);
    } else {
      cooldownNote();
    }
  }, 250);
}

function updateCounter() {
  var n = chars(textEl.value);
  var over = n > MAX_LEN;
  counterEl.hidden = n < COUNTER_FROM;
  counterEl.classList.toggle('over', over);
  counterEl.textContent = over
    ? plural(n - MAX_LEN, 'character', 'characters') + ' too many (' + n.toLocaleString('en') + ' / ' + MAX_LEN.toLocaleString('en') + ')'
    : (MAX_LEN - n).toLocaleString('en') + ' left';
  textEl.setAttribute('aria-invalid', over ? 'true' : 'false');
  textEl.style.height = 'auto';
  textEl.style.height = Math.min(textEl.scrollHeight + 2, 150) + 'px';
}

function submit() {
  var text = textEl.value;
  if (!current) return;
  if (!text.trim()) { note('Write something first.', true); return; }
  var n = chars(text);
  if (n > MAX_LEN) {
    note('Not sent: a message has at most ' + MAX_LEN.toLocaleString('en') + ' characters; this one has ' +
      n.toLocaleString('en') + '. Shorten it and send again.', true, true);
    return;
  }
  if (Date.now() < cooldownUntil) { cooldownNote(); return; }
  if (!connected()) {
    note('Not connected, so not sent yet; your message is kept here. Send it once the page is back online.', true, true);
    return;
  }
  var r = rooms.get(current);
  if (!r || !r.joined) return;
  var cid = newClientID();
  var m = {kind: 'msg', username: me, text: text, ts: Date.now(), cid: cid, state: 'pending'};
  var p = {cid: cid, room: current, text: text, m: m, timer: null};
  pending.set(cid, p);
  add(r, m);
  transmit(p);
  textEl.value = '';
  note('');
  updateCounter();
}

function send(obj) {
  if (connected()) {
    gc.send(obj);
    return true;
  }
  toast('Not connected; trying to reconnect…');
  return false;
}

function openRoom(id) {
  var r = rooms.get(id);
  current = id;
  if (r) r.unread = 0;
  if (r && !r.joined && send({command: 'join', room: id})) focusOnJoin = id;
  closeMenu(false);
  renderRooms();
  renderMain();
  if (r && r.joined) textEl.focus();
}

composer.addEventListener('submit', function (e) {
  e.preventDefault();
  submit();
});
textEl.addEventListener('keydown', function (e) {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  }
});
// Some input paths deliver Enter's character apart from its keydown: no stray newline.
textEl.addEventListener('keypress', function (e) {
  if (e.key === 'Enter' && !e.shiftKey) e.preventDefault();
});
textEl.addEventListener('input', updateCounter);

leaveBtn.addEventListener('click', function () {
  if (current) send({command: 'leave', room: current});
});

// --- the phone's room drawer: a scrim, closes on an outside tap and Escape, keeps focus ---

function focusables(root) {
  return Array.from(root.querySelectorAll('button, input, textarea, a[href], [tabindex]:not([tabindex="-1"])'))
    .filter(function (n) { return !n.disabled && !n.hidden && n.offsetParent !== null; });
}

function menuOpen() { return document.body.classList.contains('menu-open'); }

function openMenu(moveFocus) {
  if (!phone.matches) return;
  document.body.classList.add('menu-open');
  scrim.hidden = false;
  menuBtn.setAttribute('aria-expanded', 'true');
  el('top').inert = true;
  el('main').inert = true;
  if (moveFocus) {
    var first = sidebar.querySelector('.room') || el('closemenu');
    first.focus();
  }
}

function closeMenu(returnFocus) {
  if (!menuOpen()) return;
  var a = document.activeElement;
  var inside = !a || a === document.body || sidebar.contains(a) || a === scrim; // a tap on the scrim blurs
  document.body.classList.remove('menu-open');
  scrim.hidden = true;
  menuBtn.setAttribute('aria-expanded', 'false');
  el('top').inert = false;
  el('main').inert = false;
  if (returnFocus && inside) menuBtn.focus();
}

menuBtn.addEventListener('click', function () { if (menuOpen()) closeMenu(true); else openMenu(true); });
el('closemenu').addEventListener('click', function () { closeMenu(true); });
scrim.addEventListener('click', function () { closeMenu(true); });
phone.addEventListener('change', function () { closeMenu(false); renderMain(); });
document.addEventListener('keydown', function (e) {
  if (!menuOpen()) return;
  if (e.key === 'Escape') { e.preventDefault(); closeMenu(true); return; }
  if (e.key !== 'Tab') return;
  var f = focusables(sidebar);
  if (!f.length) return;
  var i = f.indexOf(document.activeElement);
  if (e.shiftKey && i <= 0) { e.preventDefault(); f[f.length - 1].focus(); } else if (!e.shiftKey && (i === f.length - 1 || i < 0)) { e.preventDefault(); f[0].focus(); }
});

// --- protocol ---

function handleError(d) {
  if (d.client_id === 'ping') { // the server could not carry a ping: it is busy
    clearTimeout(pingWait);
    pingWait = null;
    markBusy();
    return;
  }
  var p = d.client_id && pending.get(d.client_id);
  if (d.error === 'UNAVAILABLE') markBusy();
  if (d.error === 'RATE_LIMITED') startCooldown(d.retry_after);
  if (p) {
    if (d.error === 'RATE_LIMITED' || d.error === 'MESSAGE_TOO_LONG' || d.error === 'MESSAGE_EMPTY') {
      if (restore(p, 'Not sent: ' + sentence(d.error)) && d.error !== 'RATE_LIMITED') note('Not sent: ' + sentence(d.error), true, true);
      return;
    }
    fail(p, 'Not sent: ' + sentence(d.error));
    return;
  }
  if (d.error === 'RATE_LIMITED') return; // the note by the box says it
  toast(sentence(d.error));
}

function handle(d) {
  if (d.error !== undefined) { handleError(d); return; }
  if (d.pong) {
    clearTimeout(pingWait);
    pingWait = null;
    markOnline();
    return;
  }
  if (d.presence !== undefined) {
    var pr = rooms.get(String(d.room));
    if (!pr) return;
    reloadIfLost(pr, d);
    presenceEvent(pr, d);
    if (pr.id === current) renderWho();
    return;
  }
  if (d.who !== undefined) {
    var wr = rooms.get(String(d.who));
    if (wr) { setMembers(wr, d.members); if (wr.id === current) renderWho(); }
    return;
  }
  if (d.room_created !== undefined) {
    var rc = d.room_created || {};
    if (rc.id !== undefined) {
      room(String(rc.id), rc.title, rc.staff_only);
      renderRooms();
    }
    return;
  }
  if (d.join !== undefined) {
    var r = room(String(d.join), d.title, d.staff_only);
    r.joined = true;
    r.lost = false; // a join reply brings the archive's messages (or, resumed, lost none)
    if (d.members) setMembers(r, d.members);
    (d.history || []).forEach(function (h) {
      add(r, {kind: 'msg', id: h.id, username: h.username, text: h.message, ts: h.ts});
    });
    r.msgs.sort(function (a, b) { return (a.ts || 0) - (b.ts || 0); });
    if (current === null) current = r.id;
    renderRooms();
    renderMain();
    if (focusOnJoin === r.id && r.id === current) textEl.focus();
    if (focusOnJoin === r.id) focusOnJoin = null;
    return;
  }
  if (d.leave !== undefined) {
    var id = String(d.leave);
    var lr = rooms.get(id);
    if (lr) { lr.joined = false; lr.unread = 0; lr.msgs = []; lr.seen = new Set(); lr.epoch = ''; lr.lost = false; lr.who = new Map(); }
    gc.forget(roomStream(id)); // not resumed on the next reconnect
    var dropped = 0;
    pending.forEach(function (p, cid) {
      if (p.room !== id) return;
      clearTimeout(p.timer);
      pending.delete(cid);
      if (p.m.state === 'failed') dropped++;
    });
    if (dropped) toast('You left ' + (lr ? lr.title : 'the room') + '; ' + plural(dropped, 'unsent message', 'unsent messages') + ' there ' + (dropped === 1 ? 'was' : 'were') + ' discarded.');
    if (current === id) current = null;
    renderRooms();
    renderMain();
    return;
  }
  if (d.msg_type !== undefined) {
    var mr = rooms.get(String(d.room));
    if (!mr) return;
    reloadIfLost(mr, d);
    var ts = d.ts || Date.now();
    var fresh;
    if (d.msg_type === 0) {
      markOnline(); // the server carried a message: not busy
      var p = d.client_id && pending.get(d.client_id);
      if (p) { acknowledge(p, d); return; }
      fresh = add(mr, {kind: 'msg', id: d.id, username: d.username, text: d.message, ts: ts});
    } else if (d.msg_type === 4 || d.msg_type === 5) {
      fresh = add(mr, {kind: 'notice', text: d.username + (d.msg_type === 4 ? ' joined' : ' left'), ts: ts});
    }
    if (fresh && (mr.id !== current || document.hidden) && d.msg_type === 0 && d.username !== me) {
      mr.unread++;
      renderRooms();
    }
  }
}

// loadRooms fetches the room list; it resolves to whether the server answered.
function loadRooms() {
  return fetch('/rooms.json', {credentials: 'same-origin', cache: 'no-store'}).then(function (resp) {
    if (resp.status === 403) { location.reload(); return null; }
    return resp.json();
  }).then(function (data) {
    if (!data) return true;
    data.rooms.forEach(function (r) { room(r.id, r.title, r.staff_only); });
    renderRooms();
    return true;
  }).catch(function () { return false; /* offline: keep what we have */ });
}

// A page opened as /?room=<id> (where creating a room sends its creator) opens that room
// once connected; the parameter leaves the address so that a reload does not reopen it.
var wantRoom = new URLSearchParams(location.search).get('room');
if (wantRoom !== null) history.replaceState(null, '', location.pathname);

// --- the connection: gochannels.js ---

function roomStream(id) { return 'room-' + id; }
function streamRoom(stream) {
  var m = /^room-(.+)$/.exec(String(stream || ''));
  return m ? rooms.get(m[1]) : undefined;
}

// roomReloaded says in the room that missed messages could not be restored and that its
// messages are reloaded from the archive (they come with the join reply; the ones the page
// has are kept once, by id).
function roomReloaded(r) {
  add(r, {kind: 'notice', text: 'Some messages could not be restored (the server lost its recent history); ' +
    'this room was reloaded from the archive.', ts: Date.now()});
  if (r.id !== current) { r.unread++; renderRooms(); }
}

// reloadIfLost: the room's stream started again (a new epoch: the channel layer restarted
// without its history) while this socket stayed open, so messages may have been missed in
// between. The page says so and joins the room again, whose reply brings the archive's
// recent messages.
function reloadIfLost(r, d) {
  if (!r.lost || d.join !== undefined) return;
  r.lost = false;
  roomReloaded(r);
  send({command: 'join', room: r.id});
}

gc.on('state', function (e) {
  var s = e.detail.state;
  if (s === 'connecting') {
    opened = false;
    setStatus('connecting', 'connecting…');
  } else if (s === 'failed') {
    setStatus('offline', 'disconnected');
  }
});
gc.on('open', function () {
  opened = true;
  busyAfterOpen = false;
  setStatus('online', 'online');
  loadRooms();
  if (wantRoom !== null && rooms.get(wantRoom)) openRoom(wantRoom);
  wantRoom = null;
  ping();
});
gc.on('message', function (e) {
  if (e.detail.data && typeof e.detail.data === 'object') handle(e.detail.data);
});
gc.on('close', function (e) {
  clearTimeout(pingTimer);
  clearTimeout(pingWait);
  pingWait = null;
  pending.forEach(function (p) { fail(p, 'The connection closed before the server confirmed it.'); });
  // 1013 (try again later), or a refused handshake (503 while the server's channel layer
  // is down; a browser does not show the status) from a server that still answers HTTP:
  // the server is busy, not gone. Until the page knows, it says offline.
  var refused = e.detail.code === 1013 || !opened;
  busyAfterOpen = false;
  loadRooms().then(function (answered) { // also reloads the page if the session ended
    if (gc.state === 'retrying') { busyAfterOpen = refused && answered; countdown(Math.ceil(gc.retryIn / 1000)); }
  });
});
gc.on('countdown', function (e) { countdown(e.detail.seconds); });
// A room's stream moved on: remember its epoch; another epoch on a live frame means the
// layer restarted under this socket (handled with the frame, see reloadIfLost).
gc.on('position', function (e) {
  var r = streamRoom(e.detail.stream);
  if (!r) return;
  if (r.epoch && r.epoch !== e.detail.epoch) r.lost = true;
  r.epoch = e.detail.epoch;
});
// After a reconnect the missed messages could not be replayed: the join reply that follows
// brings the archive's.
gc.on('unrecoverable', function (e) {
  var r = streamRoom(e.detail.stream);
  if (!r) return;
  r.lost = false;
  if (e.detail.pos) r.epoch = e.detail.pos.epoch;
  if (r.joined) roomReloaded(r);
});

retryBtn.addEventListener('click', function () { gc.retryNow(); });

document.addEventListener('visibilitychange', function () {
  if (!document.hidden && current && rooms.get(current)) {
    rooms.get(current).unread = 0;
    renderRooms();
  }
  if (!document.hidden) ping();
});
window.addEventListener('focus', ping);

updateCounter();
renderMain();
loadRooms().then(function () { gc.connect(); });
// On a phone, a first visit with no room open starts with the room list shown.
setTimeout(function () {
  if (current === null && phone.matches) openMenu(false);
}, 800);
