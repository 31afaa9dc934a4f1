package multichat

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/internal/proctest"
	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) {
	proctest.RunMainIfChild(childServer) // the test binary as a server process (child_test.go)
	goleak.VerifyTestMain(m, redistest.LeakOptions()...)
}
