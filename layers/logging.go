package layers

import (
	"log/slog"
	"sync"
)

var (
	loggingMu sync.Mutex
	logging   []func(*slog.Logger)
)

// RegisterLogging lets a layer package route its own log lines, those of a client library it
// is built on (go-redis for the Redis layers), through the logger a program hands UseSlog.
// Call it from an init function, as Register.
func RegisterLogging(use func(logger *slog.Logger)) {
	if use == nil {
		panic("layers: RegisterLogging with a nil function")
	}
	loggingMu.Lock()
	defer loggingMu.Unlock()
	logging = append(logging, use)
}

// UseSlog routes the log lines of every linked-in layer package that registered with
// RegisterLogging through logger (slog.Default() when nil), instead of the client
// libraries' own formats on stderr. It is process-wide, as those libraries' loggers are:
// the last call wins. URLFlag.Open calls it.
func UseSlog(logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	loggingMu.Lock()
	uses := logging
	loggingMu.Unlock()
	for _, use := range uses {
		use(logger)
	}
}
