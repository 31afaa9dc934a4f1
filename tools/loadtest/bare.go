package loadtest

import (
	"fmt"
	"strconv"
	"strings"
)

// ServerBare is the bare reference broadcast server (tools/bareserver: gobwas/ws, a reader
// and a batching writer per connection, no framework, no layer, one process): the ceiling
// the framework is measured against in the same run.
const ServerBare = "bare"

// BarePackage is the import path of the bare reference server's command.
const BarePackage = "github.com/gochannels/gochannels/tools/cmd/bareserver"

// LayerNone is the layer the bare server reports: it has none.
const LayerNone = "none"

// ServerSpec names the servers of one column of a table: which server, on which layer, in
// how many processes.
type ServerSpec struct {
	// Server is ServerGo, ServerBare or ServerDjango.
	Server string `json:"server"`
	// Layer is "memory", "redis" or a layer URL (empty: the table's default); the bare server
	// has none.
	Layer string `json:"layer,omitempty"`
	// Procs is the number of server processes (0: the table's default; the bare server
	// always runs one).
	Procs int `json:"procs,omitempty"`
}

// String returns the spec as ParseServerSpecs reads it.
func (s ServerSpec) String() string {
	out := s.Server
	if s.Layer != "" {
		out += ":" + s.Layer
	}
	if s.Procs > 0 {
		if s.Layer == "" {
			out += ":"
		}
		out += ":" + strconv.Itoa(s.Procs)
	}
	return out
}

// ParseServerSpecs reads a comma-separated list of server[:layer[:procs]] entries:
// "bare,gochannels:memory,gochannels:redis:2,django:redis". The layer may be a layer URL
// ("gochannels:redis://127.0.0.1:6379/0"), then without a procs field.
func ParseServerSpecs(list string) ([]ServerSpec, error) {
	var specs []ServerSpec
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		f := strings.SplitN(entry, ":", 3)
		// A layer URL holds colons itself: "gochannels:redis://h:6379/0" (no procs field
		// after a URL: use -procs).
		if len(f) == 3 && strings.HasPrefix(f[2], "//") {
			f = []string{f[0], f[1] + ":" + f[2]}
		}
		s := ServerSpec{Server: f[0]}
		if len(f) > 1 {
			s.Layer = f[1]
		}
		if len(f) > 2 {
			n, err := strconv.Atoi(f[2])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("loadtest: server %q: processes %q: want a positive number", entry, f[2])
			}
			s.Procs = n
		}
		switch s.Server {
		case ServerGo, ServerDjango:
		case ServerBare:
			if s.Layer != "" && s.Layer != LayerNone {
				return nil, fmt.Errorf("loadtest: server %q: the bare server has no layer", entry)
			}
			if s.Procs > 1 {
				return nil, fmt.Errorf("loadtest: server %q: the bare server runs as one process", entry)
			}
			s.Layer, s.Procs = "", 0
		default:
			return nil, fmt.Errorf("loadtest: unknown server %q (want %q, %q or %q)", s.Server, ServerGo, ServerBare, ServerDjango)
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("loadtest: no server in %q", list)
	}
	return specs, nil
}

// checkBare refuses what the bare server cannot do.
func checkBare(cfg ClusterConfig) error {
	if cfg.Procs > 1 {
		return fmt.Errorf("loadtest: the bare server runs as one process, not %d (it has no layer)", cfg.Procs)
	}
	return nil
}

// pprofArgs picks a free loopback port for a Go server's -pprof flag and records its URL.
func (c *Cluster) pprofArgs() ([]string, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c.PprofURLs = append(c.PprofURLs, "http://"+addr)
	return []string{"-pprof", addr}, nil
}
