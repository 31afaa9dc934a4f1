package benchpass

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// binary is one program the pass builds once: a command (go build) or a package's test
// binary (go test -c), in its module.
type binary struct {
	module string // the module's directory, relative to the repository root
	pkg    string // the package, relative to the module
	test   bool
}

// dir is where the binary runs: the repository root for commands (chatload builds the bare
// server from there), the package's directory for test binaries (as go test runs them).
func (b binary) dir(repo string) string {
	if !b.test {
		return repo
	}
	return filepath.Join(repo, b.module, b.pkg)
}

// binaries are the pass's programs by the name Run.Bin uses.
var binaries = map[string]binary{
	"chatload":         {module: "tools", pkg: "./cmd/chatload"},
	"idleconns":        {module: "tools", pkg: "./cmd/idleconns"},
	"redisbench":       {module: "tools", pkg: "./redisbench"},
	"chat":             {module: "examples", pkg: "./chat"},
	"channels.test":    {module: ".", pkg: "./channels", test: true},
	"wsproto.test":     {module: ".", pkg: "./internal/wsproto", test: true},
	"conformance.test": {module: ".", pkg: "./internal/conformance", test: true},
	"consumer.test":    {module: ".", pkg: "./consumer", test: true},
	"worker.test":      {module: ".", pkg: "./worker", test: true},
	"layers.test":      {module: ".", pkg: "./layers", test: true},
	"redislayer.test":  {module: ".", pkg: "./layers/redislayer", test: true},
	"ops.test":         {module: ".", pkg: "./ops", test: true},
	"sessions.test":    {module: ".", pkg: "./sessions", test: true},
	"router.test":      {module: ".", pkg: "./router", test: true},
	"chat.test":        {module: "examples", pkg: "./chat/chat", test: true},
}

// build builds the named binaries into binDir, once each, and returns the commands it ran.
func build(ctx context.Context, repo, binDir string, names []string) ([]string, error) {
	var cmds []string
	for _, name := range names {
		b, ok := binaries[name]
		if !ok {
			return cmds, fmt.Errorf("benchpass: no binary %q", name)
		}
		out := filepath.Join(binDir, name)
		args := []string{"build", "-o", out, b.pkg}
		if b.test {
			args = []string{"test", "-c", "-o", out, b.pkg}
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = filepath.Join(repo, b.module)
		cmd.WaitDelay = 5 * time.Second
		line := fmt.Sprintf("(cd %s && go %s)", b.module, strings.Join(args, " "))
		cmds = append(cmds, line)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return cmds, fmt.Errorf("benchpass: %s: %w: %s", line, err, strings.TrimSpace(string(msg)))
		}
	}
	return cmds, nil
}
