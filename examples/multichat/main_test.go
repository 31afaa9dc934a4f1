package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/examples/multichat/multichat"
	"github.com/gochannels/gochannels/layers"
)

// childEnv makes the test binary run main() instead of the tests: the operations test runs
// the real program as a child process.
const childEnv = "GOCHANNELS_EXAMPLE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // exits 1 on error
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// process is the program running as a child process.
type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan error // the result of Wait

	mu  sync.Mutex
	log strings.Builder
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

var servingLine = regexp.MustCompile(`msg="multichat: serving" addr=(\S+)`)

// startMain runs main() with args in a child process and waits for its address; the
// process is killed at cleanup if it is still running.
func startMain(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(os.Args[0], args...), exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), childEnv+"=1", layers.EnvURL+"=")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	select {
	case p.addr = <-addr:
	case err := <-p.exited:
		t.Fatalf("the program exited (%v) before serving:\n%s", err, p.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("the program did not report its address:\n%s", p.logText())
	}
	return p
}

// metricValue returns the value of the sample series (name{labels} as Prometheus prints
// it) in a /metrics body, -1 when absent.
func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func httpGet(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOperations runs the program as a process and checks its operations side: /healthz,
// /readyz, /metrics with connection and message counters after a WebSocket exchange (the
// pages, http.Handlers, counted by status class), the access log, and the drain on SIGTERM:
// /readyz turns 503 while the WebSocket stays open, the WebSocket then gets close 1001, and
// the process exits 0.
func TestOperations(t *testing.T) {
	dir := t.TempDir()
	p := startMain(t, "-addr", "127.0.0.1:0", "-layer", "memory://", "-db", filepath.Join(dir, "mc.db"), "-drain-delay", "2s")
	base := "http://" + p.addr
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		if code, body := httpGet(t, c, base+path); code != 200 {
			t.Fatalf("%s = %d %q", path, code, body)
		}
	}

	// Sign up as the page's form does (CSRF token from the cookie), to open the socket.
	u, _ := url.Parse(base)
	cookie := func(name string) string {
		for _, ck := range jar.Cookies(u) {
			if ck.Name == name {
				return ck.Value
			}
		}
		return ""
	}
	form := url.Values{"username": {"ops"}, "password": {"password-ops"}, "password2": {"password-ops"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRFToken", cookie("csrftoken"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || cookie("sessionid") == "" {
		t.Fatalf("sign up: %d, session %q", resp.StatusCode, cookie("sessionid"))
	}
	var cookies []string
	for _, ck := range jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {base}, "Cookie": {strings.Join(cookies, "; ")}})}
	conn, br, _, err := d.Dial(ctx, "ws://"+p.addr+multichat.SocketPath)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if br != nil {
		ws.PutReader(br)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := wsutil.WriteClientText(conn, []byte(`{"command":"join","room":999999}`)); err != nil {
		t.Fatal(err)
	}
	reply, err := wsutil.ReadServerText(conn)
	if err != nil || !strings.Contains(string(reply), multichat.ErrCodeRoomInvalid) {
		t.Fatalf("reply %q, %v; want a %s error", reply, err, multichat.ErrCodeRoomInvalid)
	}

	_, metrics := httpGet(t, c, base+"/metrics")
	for series, atLeast := range map[string]float64{
		`gochannels_connections_total{type="websocket"}`:       1,
		`gochannels_connections_open{type="websocket"}`:        1,
		`gochannels_messages_received_total{type="websocket"}`: 1,
		`gochannels_messages_sent_total{type="websocket"}`:     1,
		`gochannels_http_responses_total{class="2xx"}`:         2,
		`gochannels_http_responses_total{class="3xx"}`:         1, // the sign-up's redirect
	} {
		if v := metricValue(metrics, series); v < atLeast {
			t.Errorf("%s = %v, want >= %v", series, v, atLeast)
		}
	}
	if v := metricValue(metrics, `gochannels_http_responses_total{class="unknown"}`); v > 0 {
		t.Errorf(`http_responses_total{class="unknown"} = %v, want 0`, v)
	}

	closed := make(chan error, 1)
	go func() {
		_, err := wsutil.ReadServerText(conn) // answers the close frame
		closed <- err
	}()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := httpGet(t, c, base+"/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after SIGTERM", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.CloseIdleConnections()
	err = <-closed
	if ce, ok := err.(wsutil.ClosedError); !ok || ce.Code != ws.StatusGoingAway {
		t.Fatalf("during the drain: %v, want close 1001", err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the program did not exit after SIGTERM:\n%s", p.logText())
	}
	log := p.logText()
	for _, want := range []string{`msg=access type=websocket path=` + multichat.SocketPath, `close_code=1001 closed_by=server`, `msg=access type=http path=/signup`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
