package channels

import (
	"errors"
	"fmt"
	"runtime/debug"
)

var (
	// ErrClosed is returned by Receive when no event can follow, by Send when the connection
	// is gone, and by Inject when the scope has ended.
	ErrClosed = errors.New("channels: closed")
	// ErrMailboxFull is returned by Inject when the receiver's bounded queue has no room; the
	// event is dropped.
	ErrMailboxFull = errors.New("channels: mailbox full")
	// ErrDetached is returned by an application's Serve after it handed its scope's events to
	// an EventHandler with Detacher.Detach: the scope goes on without the goroutine that
	// called Serve, and ends when the handler reports done.
	ErrDetached = errors.New("channels: application detached from its goroutine")
	// ErrNotDetachable is returned by Detach when the Receiver cannot run a handler (a Mailbox
	// that no server hosts, or one already detached).
	ErrNotDetachable = errors.New("channels: receiver cannot detach")
)

// WebSocket close codes (RFC 6455 §7.4.1, and the IANA registry).
const (
	CloseNormal             = 1000
	CloseGoingAway          = 1001
	CloseProtocolError      = 1002
	CloseUnsupportedData    = 1003
	CloseNoStatus           = 1005 // never sent: the close frame carried no code
	CloseAbnormal           = 1006 // never sent: the connection dropped without a close frame
	CloseInvalidPayload     = 1007
	ClosePolicyViolation    = 1008
	CloseMessageTooBig      = 1009
	CloseMandatoryExtension = 1010
	CloseInternalError      = 1011
	CloseServiceRestart     = 1012
	CloseTryAgainLater      = 1013
)

// CloseError is a WebSocket close with its code and reason. An application returns one to
// close its connection with that code; Send returns one when the peer has closed.
type CloseError struct {
	Code   int
	Reason string
}

// Reasons of the closes the server decides itself.
const (
	reasonSlowClient  = "slow client"      // 1008: OutboundQueueBytes or WriteTimeout passed
	reasonGoingAway   = "going away"       // 1001: Shutdown
	reasonIdleTimeout = "idle timeout"     // 1001: IdleTimeout passed
	reasonPongTimeout = "pong timeout"     // 1006: no pong within PongTimeout
	reasonReadTimeout = "read timeout"     // 1006: a frame took longer than ReadTimeout
	reasonShutDown    = "server shut down" // 1006: Shutdown's context ended first
)

// IsSlowClient reports whether a close with code and reason is the server closing a client
// that did not read fast enough (1008 "slow client"; see Server.OutboundQueueBytes).
func IsSlowClient(code int, reason string) bool {
	return code == ClosePolicyViolation && reason == reasonSlowClient
}

// ClosedByServer reports whether a close with code and reason is one the server decides
// itself: a slow client, a timeout, shutdown, or the client breaking the protocol or a size
// limit. It is for events that do not say who closed (a websocket.disconnect from the server
// says so in "closed_by").
func ClosedByServer(code int, reason string) bool {
	switch code {
	case ClosePolicyViolation:
		return reason == reasonSlowClient
	case CloseGoingAway:
		return reason == reasonIdleTimeout || reason == reasonGoingAway
	case CloseAbnormal:
		return reason == reasonPongTimeout || reason == reasonReadTimeout || reason == reasonShutDown
	case CloseProtocolError, CloseInvalidPayload, CloseMessageTooBig:
		return true
	}
	return false
}

// Error implements error.
func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket closed: %d", e.Code)
	}
	return fmt.Sprintf("websocket closed: %d %s", e.Code, e.Reason)
}

// Is reports whether target is ErrClosed, so that errors.Is(err, ErrClosed) holds for every
// way a connection can end.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// PanicError is a panic recovered by the framework and turned into an error: a consumer's
// hook or handler (package consumer), or an application a worker runs (package worker).
// Whoever recovered it logs it with its stack and treats it as a failure; errors.As finds
// it in the error that results.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

// NewPanicError returns the PanicError of v, a value just recovered, with the current
// goroutine's stack. Call it from the deferred function that called recover, so that the
// stack still holds the frames that panicked.
func NewPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

// Error implements error.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error, so that errors.Is and errors.As see
// through the panic to it.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
