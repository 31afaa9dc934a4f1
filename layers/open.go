package layers

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"sync"
)

// EnvURL is the environment variable every command-line program reads for the layer URL when
// no flag names one.
const EnvURL = "CHANNEL_LAYER_URL"

// OpenFunc builds a layer from a parsed URL. Packages that provide layers register one per
// URL scheme with Register.
type OpenFunc func(ctx context.Context, u *url.URL) (Layer, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
	// hints name the package to import for schemes that are known but not linked in.
	hints = map[string]string{
		"redis":          "github.com/gochannels/gochannels/layers/redislayer",
		"rediss":         "github.com/gochannels/gochannels/layers/redislayer",
		"redis+sentinel": "github.com/gochannels/gochannels/layers/redislayer",
		"redis+cluster":  "github.com/gochannels/gochannels/layers/redislayer",
		"redis+pubsub":   "github.com/gochannels/gochannels/layers/redislayer",
		"rediss+pubsub":  "github.com/gochannels/gochannels/layers/redislayer",
	}
)

// Register makes a layer available to Open under a URL scheme. It panics if the scheme is
// registered twice or open is nil; call it from an init function.
func Register(scheme string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("layers: Register " + scheme + " with a nil OpenFunc")
	}
	if _, dup := registry[scheme]; dup {
		panic("layers: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Open builds a layer from a URL: "memory://" (optionally with ?capacity=, expiry=,
// group_expiry= and per-channel capacities) for one process, and the Redis forms (for
// example "redis://localhost:6379/0") once the redislayer package is imported. An empty
// rawURL means "memory://".
func Open(ctx context.Context, rawURL string) (Layer, error) {
	if rawURL == "" {
		rawURL = "memory://"
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("layers: malformed layer URL %q: %w", Redact(rawURL), err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("layers: layer URL %q has no scheme (want e.g. memory:// or redis://host:6379/0)", Redact(rawURL))
	}
	registryMu.RLock()
	open, ok := registry[u.Scheme]
	registryMu.RUnlock()
	if !ok {
		if pkg, known := hints[u.Scheme]; known {
			return nil, fmt.Errorf("layers: scheme %q needs the layer package linked in: import _ %q", u.Scheme, pkg)
		}
		return nil, fmt.Errorf("layers: unknown layer URL scheme %q (registered: %v)", u.Scheme, Schemes())
	}
	l, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("layers: open %s: %w", Redact(rawURL), err)
	}
	return l, nil
}

// OpenEnv opens the layer named by flagValue, or when it is empty by $CHANNEL_LAYER_URL, or
// when that is empty too, the in-memory layer (see EnvURLOr).
func OpenEnv(ctx context.Context, flagValue string) (Layer, error) {
	return Open(ctx, EnvURLOr(flagValue))
}

// EnvURLOr returns the layer URL a program opens for its -layer flag's value: flagValue, or
// when it is empty $CHANNEL_LAYER_URL, or when that is empty too "memory://". Log it with
// Redact.
func EnvURLOr(flagValue string) string {
	if flagValue == "" {
		flagValue = os.Getenv(EnvURL)
	}
	if flagValue == "" {
		flagValue = "memory://"
	}
	return flagValue
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
