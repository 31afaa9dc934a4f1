package chat

import (
	"html/template"
	"log/slog"
	"net/http"
)

// Pages returns the HTTP handler for the two pages: "/" (choose a room) and "/chat/{room}/"
// (the room). Everything shown is escaped by html/template, and the page's script only ever
// puts text into the log with textContent-safe APIs.
func Pages() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, indexPage, nil)
	})
	mux.HandleFunc("GET /chat/{room}/{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, roomPage, struct{ Room string }{r.PathValue("room")})
	})
	return mux
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := t.Execute(w, data); err != nil {
		slog.Warn("chat: render page", "error", err)
	}
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat Rooms</title></head>
<body>
<p>What chat room would you like to enter?</p>
<input id="room-name-input" type="text" size="100" autofocus>
<input id="room-name-submit" type="button" value="Enter">
<script>
const input = document.getElementById('room-name-input');
input.addEventListener('keyup', (e) => {
  if (e.key === 'Enter') document.getElementById('room-name-submit').click();
});
document.getElementById('room-name-submit').addEventListener('click', () => {
  const name = input.value.trim();
  if (name !== '') window.location.pathname = '/chat/' + encodeURIComponent(name) + '/';
});
</script>
</body>
</html>
`))

var roomPage = template.Must(template.New("room").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat Room {{.Room}}</title></head>
<body>
<h1>Room {{.Room}}</h1>
<textarea id="chat-log" cols="100" rows="20" readonly></textarea><br>
<input id="chat-message-input" type="text" size="100" autofocus><br>
<input id="chat-message-submit" type="button" value="Send">
<p id="chat-status"></p>
<script>
const roomName = {{.Room}};
const log = document.getElementById('chat-log');
const status = document.getElementById('chat-status');
const input = document.getElementById('chat-message-input');
const scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
const chatSocket = new WebSocket(scheme + window.location.host + '/ws/chat/' + encodeURIComponent(roomName) + '/');

chatSocket.addEventListener('open', () => { status.textContent = 'connected'; });
chatSocket.addEventListener('message', (e) => {
  let data;
  try { data = JSON.parse(e.data); } catch (err) { return; }
  if (data.error) { status.textContent = 'not delivered, try again: ' + JSON.stringify(data.message); return; }
  const m = typeof data.message === 'string' ? data.message : JSON.stringify(data.message);
  log.value += m + '\n';
  log.scrollTop = log.scrollHeight;
});
chatSocket.addEventListener('close', (e) => {
  status.textContent = 'disconnected (' + e.code + ')';
});
input.addEventListener('keyup', (e) => {
  if (e.key === 'Enter') document.getElementById('chat-message-submit').click();
});
document.getElementById('chat-message-submit').addEventListener('click', () => {
  if (chatSocket.readyState !== WebSocket.OPEN) return;
  chatSocket.send(JSON.stringify({message: input.value}));
  input.value = '';
});
</script>
</body>
</html>
`))
