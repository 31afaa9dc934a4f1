// Package proctest runs an example program's main() as a child process of its own test
// binary, and checks the operations side every example shares: /metrics, /readyz, the drain
// on SIGTERM and the access log.
//
// The test binary becomes the program when RunMainIfChild is called first in TestMain:
//
//	func TestMain(m *testing.M) {
//		proctest.RunMainIfChild(main)
//		goleak.VerifyTestMain(m)
//	}
package proctest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/gochannels/gochannels/layers"
)

// childEnv makes the test binary run main() instead of the tests.
const childEnv = "GOCHANNELS_EXAMPLE_RUN_MAIN"

// RunMainIfChild runs main and exits when this process is a child started by Start;
// otherwise it returns at once.
func RunMainIfChild(main func()) {
	if os.Getenv(childEnv) == "1" {
		main() // exits 1 on error
		os.Exit(0)
	}
}

// Process is the program running as a child process.
type Process struct {
	// Addr is the address the program reported in its "<name>: serving" log line.
	Addr string

	cmd    *exec.Cmd
	exited chan error // the result of Wait

	mu  sync.Mutex
	log strings.Builder
}

// Log returns what the program has logged (its stderr) so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Start runs the test binary as the program with args (with $CHANNEL_LAYER_URL cleared) and
// waits until it logs `msg="<name>: serving" addr=...`. The process is killed at cleanup if
// it is still running.
func Start(t *testing.T, name string, args ...string) *Process {
	t.Helper()
	serving := regexp.MustCompile(`msg="` + regexp.QuoteMeta(name) + `: serving" addr=(\S+)`)
	p := &Process{cmd: exec.Command(os.Args[0], args...), exited: make(chan error, 1)}
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
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
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
	case p.Addr = <-addr:
	case err := <-p.exited:
		t.Fatalf("the program exited (%v) before serving:\n%s", err, p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("the program did not report its address:\n%s", p.Log())
	}
	return p
}

// Get fetches url with c and returns the status code and body; a transport error fails t.
func Get(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// MetricValue returns the value of the sample series (name{labels} as Prometheus prints it)
// in a /metrics body, -1 when absent.
func MetricValue(body, series string) float64 {
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

// CheckMetrics fetches the program's /metrics with c and reports every series below its
// minimum, and any HTTP response counted with the status class "unknown". Counters move just
// after the event they count (a send is counted once it has been written, possibly after the
// client has read it), so it fetches again for up to 5 s until the minimums are met.
func (p *Process) CheckMetrics(t *testing.T, c *http.Client, atLeast map[string]float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, metrics := Get(t, c, "http://"+p.Addr+"/metrics")
		var short []string
		for series, min := range atLeast {
			if v := MetricValue(metrics, series); v < min {
				short = append(short, fmt.Sprintf("%s = %v, want >= %v", series, v, min))
			}
		}
		if len(short) == 0 || time.Now().After(deadline) {
			for _, s := range short {
				t.Error(s)
			}
			if v := MetricValue(metrics, `gochannels_http_responses_total{class="unknown"}`); v > 0 {
				t.Errorf(`http_responses_total{class="unknown"} = %v, want 0`, v)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Drain sends SIGTERM and checks the graceful drain: /readyz turns 503, the open WebSocket
// whose reader reports on closed then gets close 1001, and the program exits 0. Last, the
// access log must hold every one of wantLog.
func (p *Process) Drain(t *testing.T, c *http.Client, closed <-chan error, wantLog ...string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := Get(t, c, "http://"+p.Addr+"/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after SIGTERM", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.CloseIdleConnections()
	if err := <-closed; !isGoingAway(err) {
		t.Fatalf("during the drain: %v, want close 1001", err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.Log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the program did not exit after SIGTERM:\n%s", p.Log())
	}
	log := p.Log()
	for _, want := range wantLog {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func isGoingAway(err error) bool {
	ce, ok := err.(wsutil.ClosedError)
	return ok && ce.Code == ws.StatusGoingAway
}
