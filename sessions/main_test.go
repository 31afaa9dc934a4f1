package sessions

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gochannels/gochannels/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.LeakOptions()...) }
