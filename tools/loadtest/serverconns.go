package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ServerConns counts the ESTABLISHED TCP sockets that process pid holds with local port
// port: the server's side of the connections it accepted on that port and still holds open.
// It works for any server (examples/chat, daphne): it matches the socket inodes of the
// process's open files (/proc/<pid>/fd) against the kernel's TCP tables as the process sees
// them (/proc/<pid>/net/tcp and tcp6).
func ServerConns(pid, port int) (int, error) {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, fmt.Errorf("loadtest: list the sockets of pid %d: %w", pid, err)
	}
	inodes := make(map[string]struct{}, len(ents))
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = struct{}{}
		}
	}
	// The kernel writes the tables in pieces while sockets come and go, so one socket can
	// appear twice: count each inode once.
	seen := map[string]struct{}{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/" + table)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("loadtest: read the TCP table of pid %d: %w", pid, err)
		}
		err = establishedInodes(f, port, inodes, seen)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("loadtest: parse the TCP table of pid %d: %w", pid, err)
		}
	}
	return len(seen), nil
}

// establishedInodes adds to seen the inodes of the lines of a /proc/net/tcp table in state
// ESTABLISHED (01) with local port port and an inode in inodes.
func establishedInodes(r io.Reader, port int, inodes, seen map[string]struct{}) error {
	hexPort := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "01" || !strings.HasSuffix(f[1], hexPort) {
			continue
		}
		if _, ok := inodes[f[9]]; ok {
			seen[f[9]] = struct{}{}
		}
	}
	return sc.Err()
}

// openWebsocketsSeries is the examples/chat gauge (ops.Metrics) of WebSocket scopes in progress.
const openWebsocketsSeries = `gochannels_connections_open{type="websocket"}`

// scrapeOpenWebsockets reads a server's open-WebSocket gauge from its /metrics; ok is false
// when the server serves no such gauge (the Django reference has no /metrics).
func scrapeOpenWebsockets(ctx context.Context, base string) (n int, ok bool) {
	mu, err := metricsURL(base)
	if err != nil {
		return 0, false
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mu, nil)
	if err != nil {
		return 0, false
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), openWebsocketsSeries+" "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err == nil
		}
	}
	return 0, false
}

// portOf returns the port of a ws://host:port URL.
func portOf(base string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, fmt.Errorf("loadtest: bad server URL %q: %w", base, err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("loadtest: server URL %q has no port", base)
	}
	return p, nil
}
