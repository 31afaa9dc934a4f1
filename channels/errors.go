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
	// ErrDroppedOldest is returned by Inject under OverflowDropOldest when the event was
	// queued after older injected events were dropped to make room. errors.Is(err,
	// ErrMailboxFull) holds for it: one event was lost to a full queue.
	ErrDroppedOldest = fmt.Errorf("channels: older events dropped: %w", ErrMailboxFull)
	// ErrEventOverflow is returned by Inject under OverflowClose when the event would take
	// the queue past its byte bound: the event is dropped, the mailbox closed, and the
	// server closes the connection with 1008 "event queue full".
	ErrEventOverflow = errors.New("channels: event queue over its bound; scope closed")
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
	reasonEventQueue  = "event queue full" // 1008: EventQueueBytes passed (OverflowClose)
	reasonGoingAway   = "going away"       // 1001: Shutdown
	reasonIdleTimeout = "idle timeout"     // 1001: IdleTimeout passed
	reasonPongTimeout = "pong timeout"     // 1006: no pong within PongTimeout
	reasonReadTimeout = "read timeout"     // 1006: a frame took longer than ReadTimeout
	reasonShutDown    = "server shut down" // 1006: Shutdown's context ended first
)

// IsSlowClient reports whether a close with code and reason is the server closing a
// connection that did not keep up: 1008 "slow client" (its outbound queue passed
// Server.OutboundQueueBytes, or a write timed out) or 1008 "event queue full" (its queue of
// channel-layer events passed Server.EventQueueBytes). SlowCloseKind tells them apart.
func IsSlowClient(code int, reason string) bool {
	return SlowCloseKind(code, reason) != ""
}

// Kinds of slow-client close, as SlowCloseKind reports them (and the reason label of the
// ops metric gochannels_websocket_slow_client_closes_total).
const (
	SlowOutbound = "outbound" // 1008 "slow client": the frames queued for the client
	SlowEvents   = "events"   // 1008 "event queue full": the events queued for the application
)

// SlowCloseKind returns SlowOutbound or SlowEvents for a slow-client close (see
// IsSlowClient), and "" for any other close.
func SlowCloseKind(code int, reason string) string {
	if code != ClosePolicyViolation {
		return ""
	}
	switch reason {
	case reasonSlowClient:
		return SlowOutbound
	case reasonEventQueue:
		return SlowEvents
	}
	return ""
}

// ClosedByServer reports whether a close with code and reason is one the server decides
// itself: a slow client, a timeout, shutdown, or the client breaking the protocol or a size
// limit. It is for events that do not say who closed (a websocket.disconnect from the server
// says so in "closed_by").
func ClosedByServer(code int, reason string) bool {
	switch code {
	case ClosePolicyViolation:
		return IsSlowClient(code, reason)
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
