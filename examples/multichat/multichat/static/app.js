// multichat client. Everything users type reaches the page through textContent, never
// innerHTML. The socket speaks the multichat protocol; see the package documentation.
(function () {
  'use strict';

  var me = document.body.dataset.username;
  var MAX_LEN = 2000;
  var rooms = new Map(); // id → {id, title, staff, joined, unread, msgs: [], seen: Set}
  var current = null;
  var ws = null;
  var backoff = 500;
  var retryTimer = null;

  var el = function (id) { return document.getElementById(id); };
  var statusEl = el('status'), roomsEl = el('rooms'), msgsEl = el('messages');
  var titleEl = el('roomtitle'), leaveBtn = el('leave'), composer = el('composer');
  var textEl = el('text'), emptyEl = el('empty'), toastEl = el('toast');

  function make(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function setStatus(s, label) {
    statusEl.className = 'status ' + s;
    statusEl.textContent = label;
    document.body.dataset.status = s;
  }

  var toastTimer = null;
  function toast(text) {
    toastEl.textContent = text;
    toastEl.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toastEl.hidden = true; }, 4000);
  }

  function room(id, title, staff) {
    var r = rooms.get(id);
    if (!r) {
      r = {id: id, title: title || ('Room ' + id), staff: !!staff, joined: false, unread: 0, msgs: [], seen: new Set()};
      rooms.set(id, r);
    }
    if (title) r.title = title;
    if (staff !== undefined) r.staff = !!staff;
    return r;
  }

  function time(ts) {
    if (!ts) return '';
    var d = new Date(ts);
    return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  }

  // --- rendering ---

  function renderRooms() {
    roomsEl.replaceChildren();
    var total = 0;
    rooms.forEach(function (r) {
      var li = make('li');
      var b = make('button', 'room' + (r.joined ? ' joined' : '') + (r.id === current ? ' active' : ''));
      b.type = 'button';
      b.dataset.room = r.id;
      b.appendChild(make('span', 'name', r.title));
      if (r.staff) b.appendChild(make('span', 'lock', 'staff'));
      if (r.unread > 0) {
        b.appendChild(make('span', 'unread', r.unread > 99 ? '99+' : String(r.unread)));
        total += r.unread;
      } else if (!r.joined) {
        b.appendChild(make('span', 'join', 'join'));
      }
      b.addEventListener('click', function () { openRoom(r.id); });
      li.appendChild(b);
      roomsEl.appendChild(li);
    });
    document.title = (total ? '(' + total + ') ' : '') + 'multichat';
  }

  function messageNode(m) {
    if (m.kind === 'notice') {
      var n = make('li', 'notice');
      n.appendChild(make('span', 'text', m.text));
      n.appendChild(make('time', 'ts', time(m.ts)));
      return n;
    }
    var li = make('li', 'msg' + (m.username === me ? ' own' : ''));
    li.dataset.id = m.id || '';
    var meta = make('div', 'meta');
    meta.appendChild(make('span', 'who', m.username === me ? 'you' : m.username));
    meta.appendChild(make('time', 'ts', time(m.ts)));
    li.appendChild(meta);
    li.appendChild(make('div', 'body', m.text));
    return li;
  }

  function renderMain() {
    var r = current && rooms.get(current);
    msgsEl.replaceChildren();
    if (!r || !r.joined) {
      titleEl.textContent = r ? r.title : 'Pick a room';
      leaveBtn.hidden = true;
      composer.hidden = true;
      emptyEl.hidden = false;
      return;
    }
    titleEl.textContent = r.title;
    leaveBtn.hidden = false;
    composer.hidden = false;
    emptyEl.hidden = r.msgs.length > 0;
    emptyEl.textContent = 'No messages yet. Say hello!';
    r.msgs.forEach(function (m) { msgsEl.appendChild(messageNode(m)); });
    msgsEl.scrollTop = msgsEl.scrollHeight;
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
      emptyEl.hidden = true;
      if (atBottom || m.username === me) msgsEl.scrollTop = msgsEl.scrollHeight;
    }
    return true;
  }

  // --- actions ---

  var unsent = ''; // the last message sent, put back in the box if the server was busy

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(obj));
      return true;
    }
    toast('Not connected; trying to reconnect…');
    return false;
  }

  function openRoom(id) {
    var r = rooms.get(id);
    current = id;
    if (r) r.unread = 0;
    if (r && !r.joined) send({command: 'join', room: id});
    document.body.classList.remove('menu-open');
    renderRooms();
    renderMain();
    if (r && r.joined) textEl.focus();
  }

  composer.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = textEl.value;
    if (!text.trim() || !current) return;
    if (text.length > MAX_LEN) { toast('A message has at most ' + MAX_LEN + ' characters.'); return; }
    if (send({command: 'send', room: current, message: text})) { unsent = text; textEl.value = ''; }
  });

  leaveBtn.addEventListener('click', function () {
    if (current) send({command: 'leave', room: current});
  });

  el('menu').addEventListener('click', function () {
    document.body.classList.toggle('menu-open');
  });

  var errorText = {
    ROOM_INVALID: 'That room does not exist.',
    ROOM_ACCESS_DENIED: 'You may not use that room.',
    USER_HAS_TO_LOGIN: 'Please log in again.',
    MESSAGE_TOO_LONG: 'That message is too long.',
    MESSAGE_EMPTY: 'That message is empty.',
    RATE_LIMITED: 'Slow down a little.',
    BAD_COMMAND: 'The server did not understand that.',
    UNAVAILABLE: 'The server is busy; try again in a moment.'
  };

  // --- protocol ---

  function handle(d) {
    if (d.error !== undefined) {
      if (d.error === 'UNAVAILABLE' && !textEl.value) textEl.value = unsent; // keep the typed text
      toast(d.message || errorText[d.error] || String(d.error));
      return;
    }
    if (d.join !== undefined) {
      var r = room(String(d.join), d.title, d.staff_only);
      r.joined = true;
      (d.history || []).forEach(function (h) {
        add(r, {kind: 'msg', id: h.id, username: h.username, text: h.message, ts: h.ts});
      });
      r.msgs.sort(function (a, b) { return (a.ts || 0) - (b.ts || 0); });
      if (current === null) current = r.id;
      renderRooms();
      renderMain();
      return;
    }
    if (d.leave !== undefined) {
      var lr = rooms.get(String(d.leave));
      if (lr) { lr.joined = false; lr.unread = 0; lr.msgs = []; lr.seen = new Set(); }
      if (current === String(d.leave)) current = null;
      renderRooms();
      renderMain();
      return;
    }
    if (d.msg_type !== undefined) {
      var mr = rooms.get(String(d.room));
      if (!mr) return;
      var ts = d.ts || Date.now();
      var fresh;
      if (d.msg_type === 0) {
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

  function loadRooms() {
    return fetch('/rooms.json', {credentials: 'same-origin', cache: 'no-store'}).then(function (resp) {
      if (resp.status === 403) { location.reload(); return null; }
      return resp.json();
    }).then(function (data) {
      if (!data) return;
      data.rooms.forEach(function (r) { room(r.id, r.title, r.staff_only); });
      renderRooms();
    }).catch(function () { /* offline: keep what we have */ });
  }

  function connect() {
    clearTimeout(retryTimer);
    setStatus('connecting', 'connecting…');
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var sock = new WebSocket(proto + '//' + location.host + '/chat/stream/');
    ws = sock;
    var opened = false;
    sock.onopen = function () {
      opened = true;
      backoff = 500;
      setStatus('online', 'online');
      loadRooms();
      // Re-join what this page had open; the server also restores the rooms saved for the
      // user, and a second join of the same room is harmless.
      rooms.forEach(function (r) { if (r.joined) sock.send(JSON.stringify({command: 'join', room: r.id})); });
    };
    sock.onmessage = function (e) {
      var d;
      try { d = JSON.parse(e.data); } catch (err) { return; }
      handle(d);
    };
    sock.onclose = function (e) {
      if (ws !== sock) return;
      ws = null;
      var wait = Math.min(backoff, 15000) * (0.8 + Math.random() * 0.4);
      backoff = Math.min(backoff * 2, 15000);
      // 1013 (try again later), or a refused handshake (503 while the server's channel layer
      // is down; a browser does not show the status): the server is busy, not gone.
      if (e.code === 1013 || !opened) {
        setStatus('offline', 'reconnecting — server busy');
      } else {
        setStatus('offline', 'offline — retrying in ' + Math.ceil(wait / 1000) + 's');
      }
      loadRooms(); // reloads the page if the session ended
      retryTimer = setTimeout(connect, wait);
    };
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && current && rooms.get(current)) {
      rooms.get(current).unread = 0;
      renderRooms();
    }
  });
  window.addEventListener('online', function () { if (!ws) connect(); });

  loadRooms().then(connect);
  // On a phone, a first visit with no room open starts with the room list shown.
  setTimeout(function () {
    if (current === null && window.matchMedia('(max-width: 700px)').matches) {
      document.body.classList.add('menu-open');
    }
  }, 800);
})();
