package benchpass

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where and on what a pass ran.
type Machine struct {
	Commit  string `json:"commit"`
	Dirty   bool   `json:"dirty"`
	Subject string `json:"subject"`
	Date    string `json:"date"`
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`
	Memory  string `json:"memory"`
	OS      string `json:"os"`
	Kernel  string `json:"kernel"`
	Go      string `json:"go"`
	Redis   string `json:"redis"`
	Python  string `json:"python"`
	Django  string `json:"django"`
	Load    string `json:"load_average"`
}

// ErrDirty is returned by Describe for a work tree with uncommitted changes: the figures
// would not belong to the named commit.
var ErrDirty = errors.New("benchpass: the work tree has uncommitted changes")

// Describe reads the commit of the repository at repo and the machine's description. A
// dirty work tree is an error wrapping ErrDirty unless allowDirty, in which case it is
// flagged in the description.
func Describe(ctx context.Context, repo string, allowDirty bool) (*Machine, error) {
	run := func(name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	m := &Machine{
		Commit:  run("git", "rev-parse", "HEAD"),
		Subject: run("git", "log", "-1", "--format=%s"),
		Date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Cores:   runtime.NumCPU(),
		Kernel:  run("uname", "-r"),
		Go:      run("go", "version"),
		Redis:   run("redis-server", "--version"),
		Python:  run("/usr/bin/python3", "--version"),
		Django: run("/usr/bin/python3", "-c",
			"import django, channels, daphne, channels_redis; print('Django', django.__version__, 'channels', channels.__version__, 'daphne', daphne.__version__, 'channels_redis', channels_redis.__version__)"),
	}
	if m.Commit == "" {
		return nil, fmt.Errorf("benchpass: %s is not a git work tree", repo)
	}
	if status := run("git", "status", "--porcelain", "--untracked-files=no"); status != "" {
		if !allowDirty {
			return nil, fmt.Errorf("%w:\n%s\n(commit them, or pass -allow-dirty to flag the report)", ErrDirty, status)
		}
		m.Dirty = true
	}
	m.CPU = firstField("/proc/cpuinfo", "model name")
	m.Memory = firstField("/proc/meminfo", "MemTotal")
	m.OS = strings.Trim(firstField("/etc/os-release", "PRETTY_NAME="), `"`)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m, nil
}

// firstField returns what follows key (and a colon or spaces) on the first line of path
// that starts with key, or "".
func firstField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(strings.TrimLeft(rest, ": \t"))
		}
	}
	return ""
}

// missing returns why a need is not met on this machine, or "".
func missing(ctx context.Context, n Need) string {
	switch n {
	case NeedRedis:
		if _, err := exec.LookPath("redis-server"); err != nil {
			return "redis-server not found (Debian: redis-server)"
		}
	case NeedDjango:
		cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", "import daphne, channels, channels_redis, django")
		if err := cmd.Run(); err != nil {
			return "Django Channels not importable by /usr/bin/python3 (Debian: python3-daphne python3-django-channels python3-channels-redis)"
		}
	}
	return ""
}

// Missing returns, for each need of the sections that this machine lacks, why.
func Missing(ctx context.Context, sections []Section) []string {
	var why []string
	seen := map[Need]bool{}
	for _, s := range sections {
		for _, n := range s.Needs() {
			if seen[n] {
				continue
			}
			seen[n] = true
			if m := missing(ctx, n); m != "" {
				why = append(why, m)
			}
		}
	}
	return why
}
