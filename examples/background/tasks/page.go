package tasks

// page is the example's single HTML page. Text from the server is inserted with
// textContent only.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Background tasks</title>
<style>
body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }
li { margin: .3em 0; }
progress { width: 12em; vertical-align: middle; }
</style>
</head>
<body>
<h1>Background tasks</h1>
<p>Count the primes below <input id="n" type="number" value="5000000" min="2" max="20000000">
<button id="start" disabled>Start</button> <span id="status">connecting…</span></p>
<ul id="tasks"></ul>
<script>
(function () {
  var watcher = null, rows = {}, early = {};
  var status = document.getElementById("status"), start = document.getElementById("start");
  var proto = location.protocol === "https:" ? "wss://" : "ws://";
  var ws = new WebSocket(proto + location.host + "/ws/tasks/");
  ws.onmessage = function (e) {
    var m = JSON.parse(e.data);
    if (m.watcher) { watcher = m.watcher; start.disabled = false; status.textContent = "ready"; return; }
    var row = rows[m.id];
    if (!row) { early[m.id] = m; return; } // the event beat the POST's answer
    show(row, m);
  };
  function show(row, m) {
    if (m.event === "progress") {
      row.bar.max = m.steps; row.bar.value = m.step;
      row.text.textContent = " step " + m.step + "/" + m.steps + ": " + m.found + " primes so far";
    } else if (m.event === "done") {
      row.bar.value = row.bar.max;
      row.text.textContent = " done: " + m.primes + " primes below " + m.n;
    }
  }
  ws.onclose = function () { start.disabled = true; status.textContent = "disconnected; reload the page"; };
  start.onclick = function () {
    var n = parseInt(document.getElementById("n").value, 10);
    fetch("/tasks", {method: "POST", headers: {"Content-Type": "application/json"},
                     body: JSON.stringify({n: n, watcher: watcher})})
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (res.error) { status.textContent = res.error; return; }
        var li = document.createElement("li"), bar = document.createElement("progress"), text = document.createElement("span");
        li.textContent = "task " + res.id.slice(0, 8) + " (n = " + n + ") ";
        bar.max = 10; bar.value = 0; li.appendChild(bar); li.appendChild(text);
        document.getElementById("tasks").appendChild(li);
        rows[res.id] = {bar: bar, text: text};
        if (early[res.id]) { show(rows[res.id], early[res.id]); delete early[res.id]; }
      });
  };
})();
</script>
</body>
</html>
`
