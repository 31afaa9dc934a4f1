package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one redis-server (or sentinel) child process started by the topology helpers.
type proc struct {
	name   string // for messages: "master", "sentinel", "node 2"...
	port   int
	dir    string
	logf   string
	cmd    *exec.Cmd
	exited chan error
	once   sync.Once
}

// requireBinary returns the path of a redis binary, skipping the test when it is missing
// (failing when CI=true). The topology helpers always start private processes, REDIS_URL or
// not: an external server cannot become a Sentinel, a Cluster or a TLS endpoint.
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, name+" not found; install redis-server (Debian's redis package has redis-cli, Sentinel, Cluster and TLS)")
	}
	return bin
}

// startProc launches bin with args in dir, logging to dir/<name>.log, and registers its
// killing with t.Cleanup. It does not wait for readiness; ready does.
func startProc(t testing.TB, name, bin, dir string, port int, args ...string) (*proc, error) {
	t.Helper()
	p := &proc{name: name, port: port, dir: dir, logf: filepath.Join(dir, "redis.log")}
	f, err := os.OpenFile(p.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p.cmd = cmd
	p.exited = make(chan error, 1)
	go func() {
		err := cmd.Wait()
		f.Close()
		p.exited <- err
	}()
	t.Cleanup(p.kill)
	return p, nil
}

// kill ends the process with SIGKILL and waits for it (once).
func (p *proc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	})
}

// ready polls check until it succeeds, the process exits, or startTimeout passes.
func (p *proc) ready(check func(ctx context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			p.exited <- err // kill waits on it too
			return fmt.Errorf("%s exited at start (%v): %s", p.name, err, tail(p.logf))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		last = check(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s on port %d not ready within %v (%v): %s", p.name, p.port, startTimeout, last, tail(p.logf))
}

// launch starts a process on fresh free ports, retrying when a port was taken in between.
// args builds the command line from the chosen port (and extra ports, when extra > 0).
func launch(t testing.TB, name, bin string, extra int, args func(dir string, ports []int) []string, check func(ctx context.Context, port int) error) *proc {
	t.Helper()
	dir := t.TempDir()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ports := make([]int, 1+extra)
		for i := range ports {
			if ports[i], err = freePort(); err != nil {
				break
			}
		}
		if err != nil {
			continue
		}
		var p *proc
		if p, err = startProc(t, name, bin, dir, ports[0], args(dir, ports)...); err != nil {
			continue
		}
		if err = p.ready(func(ctx context.Context) error { return check(ctx, ports[0]) }); err == nil {
			return p
		}
		p.kill()
	}
	t.Fatalf("redistest: start %s: %v", name, err)
	return nil
}
