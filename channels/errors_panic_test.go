package channels_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/channels"
)

// recovered runs f and returns its panic as a *channels.PanicError, made in the deferred
// function that recovered it, as consumer and worker do.
func recovered(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = channels.NewPanicError(v)
		}
	}()
	f()
	return nil
}

func panicsWith(v any) { panic(v) }

// TestPanicError: the error names the panic value, keeps the stack of the frame that
// panicked, and lets errors.Is and errors.As see the value when it is an error.
func TestPanicError(t *testing.T) {
	err := recovered(func() { panicsWith("boom") })
	var pe *channels.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || err.Error() != "panic: boom" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(string(pe.Stack), "panicsWith") {
		t.Errorf("the stack does not hold the panicking frame:\n%s", pe.Stack)
	}
	if pe.Unwrap() != nil {
		t.Errorf("Unwrap of a non-error value = %v", pe.Unwrap())
	}

	err = recovered(func() { panicsWith(io.ErrUnexpectedEOF) })
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &pe) || err.Error() != "panic: unexpected EOF" {
		t.Fatalf("err = %v", err)
	}
}
