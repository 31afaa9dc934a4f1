package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
)

// acker is a JSON consumer whose frames say what its ReceiveJSON does: {"do": "echo"} sends
// the frame back and succeeds, "refuse" returns a *SendError, "unavailable" an error wrapping
// layers.ErrUnavailable, "fail" a plain error, "panic" panics, "close" closes with 4001.
type acker struct {
	consumer.JSONWebsocketConsumer
}

func (c *acker) ReceiveJSON(ctx context.Context, content json.RawMessage) error {
	var in struct{ Do string }
	if err := json.Unmarshal(content, &in); err != nil {
		return err
	}
	switch in.Do {
	case "echo":
		return c.SendText(ctx, string(content))
	case "refuse":
		return fmt.Errorf("wrapped: %w", &consumer.SendError{Code: "too_long", Message: "at most 10 characters", RetryAfter: 1500 * time.Millisecond})
	case "refuse-empty":
		return &consumer.SendError{}
	case "unavailable":
		return fmt.Errorf("group send: %w", layers.ErrUnavailable)
	case "fail":
		return errors.New("boom")
	case "panic":
		panic("kaboom")
	case "close":
		return &channels.CloseError{Code: 4001, Reason: "bye"}
	}
	return nil
}

// ackReply is an ack or nack frame as the client sees it.
type ackReply struct {
	Gochannels string  `json:"gochannels"`
	ID         *string `json:"id"`
	Code       string  `json:"code"`
	Message    string  `json:"message"`
	RetryAfter *int    `json:"retry_after"`
}

func decodeReply(t *testing.T, text string) ackReply {
	t.Helper()
	var r ackReply
	if err := json.Unmarshal([]byte(text), &r); err != nil || r.Gochannels == "" || r.ID == nil {
		t.Fatalf("not an ack frame: %s (%v)", text, err)
	}
	return r
}

// TestAcks runs an acker on a real server with WithAcks: ack after the handler's own frames,
// no ack for a frame without gc_id, a nack shaped by a *SendError or by layers.ErrUnavailable
// that keeps the connection, a refused gc_id, and a nack "internal" before the 1011 close.
func TestAcks(t *testing.T) {
	ctx := testCtx(t)
	logger, logs := newLogger()
	base := serveReal(t, consumer.JSONWebsocket[acker](consumer.WithAcks(), consumer.WithLogger(logger)), logger)
	conn := wsDial(t, ctx, base+"/room/a/")

	// The handler's frame first, then the ack.
	sendText(t, conn, `{"do":"echo","gc_id":"1"}`)
	if got := readText(t, conn); got != `{"do":"echo","gc_id":"1"}` {
		t.Fatalf("echo: %s", got)
	}
	if r := decodeReply(t, readText(t, conn)); r.Gochannels != "ack" || *r.ID != "1" || r.Code != "" {
		t.Fatalf("ack: %+v", r)
	}

	// No gc_id, no ack: the next frame read is the echo of the next one, then its ack.
	sendText(t, conn, `{"do":"echo","text":"gc_id is only a top-level key"}`)
	sendText(t, conn, `{"do":"nothing","nested":{"gc_id":"x"},"gc_id":"2"}`)
	if got := readText(t, conn); got != `{"do":"echo","text":"gc_id is only a top-level key"}` {
		t.Fatalf("echo without gc_id: %s", got)
	}
	if r := decodeReply(t, readText(t, conn)); r.Gochannels != "ack" || *r.ID != "2" {
		t.Fatalf("ack of the frame with a nested gc_id: %+v", r)
	}

	// A *SendError, wrapped: its code, message and retry_after (rounded up); still open.
	sendText(t, conn, `{"do":"refuse","gc_id":"3"}`)
	r := decodeReply(t, readText(t, conn))
	if r.Gochannels != "nack" || *r.ID != "3" || r.Code != "too_long" || r.Message != "at most 10 characters" || r.RetryAfter == nil || *r.RetryAfter != 2 {
		t.Fatalf("nack of a SendError: %+v", r)
	}
	sendText(t, conn, `{"do":"refuse-empty","gc_id":"3b"}`)
	if r := decodeReply(t, readText(t, conn)); r.Code != consumer.NackRejected || r.RetryAfter != nil {
		t.Fatalf("nack of an empty SendError: %+v", r)
	}

	// layers.ErrUnavailable: code "unavailable", retry_after 2; still open.
	sendText(t, conn, `{"do":"unavailable","gc_id":"4"}`)
	if r := decodeReply(t, readText(t, conn)); r.Gochannels != "nack" || *r.ID != "4" || r.Code != consumer.NackUnavailable || r.RetryAfter == nil || *r.RetryAfter != 2 {
		t.Fatalf("nack of ErrUnavailable: %+v", r)
	}

	// A gc_id that is not a string of 1..64 bytes: nack "bad_gc_id", id "", not handled.
	for _, bad := range []string{`5`, `""`, `"` + strings.Repeat("x", consumer.MaxAckIDLen+1) + `"`} {
		sendText(t, conn, `{"do":"echo","gc_id":`+bad+`}`)
		if r := decodeReply(t, readText(t, conn)); r.Gochannels != "nack" || *r.ID != "" || r.Code != consumer.NackBadID {
			t.Fatalf("gc_id %s: %+v", bad, r)
		}
	}
	sendText(t, conn, `{"do":"echo","gc_id":"`+strings.Repeat("y", consumer.MaxAckIDLen)+`"}`)
	_ = readText(t, conn) // the echo
	if r := decodeReply(t, readText(t, conn)); r.Gochannels != "ack" {
		t.Fatalf("a gc_id of %d bytes: %+v", consumer.MaxAckIDLen, r)
	}

	// A plain error: nack "internal" with a generic message, then 1011.
	sendText(t, conn, `{"do":"fail","gc_id":"5"}`)
	if r := decodeReply(t, readText(t, conn)); r.Gochannels != "nack" || *r.ID != "5" || r.Code != consumer.NackInternal || strings.Contains(r.Message, "boom") {
		t.Fatalf("nack of a failure: %+v", r)
	}
	if code := readClose(t, conn); code != channels.CloseInternalError {
		t.Fatalf("close after a failure: %d, want 1011", code)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}

	// A panic is a failure too.
	conn = wsDial(t, ctx, base+"/room/a/")
	sendText(t, conn, `{"do":"panic","gc_id":"6"}`)
	if r := decodeReply(t, readText(t, conn)); r.Code != consumer.NackInternal {
		t.Fatalf("nack of a panic: %+v", r)
	}
	if code := readClose(t, conn); code != channels.CloseInternalError {
		t.Fatalf("close after a panic: %d", code)
	}

	// A *channels.CloseError: no ack frame, the close.
	conn = wsDial(t, ctx, base+"/room/a/")
	sendText(t, conn, `{"do":"close","gc_id":"7"}`)
	if code := readClose(t, conn); code != 4001 {
		t.Fatalf("close: %d, want 4001 and no frame before it", code)
	}
}

// TestAcksOff: without WithAcks a gc_id is an ordinary key, never acknowledged, and a
// *SendError fails as any error.
func TestAcksOff(t *testing.T) {
	ctx := testCtx(t)
	logger, _ := newLogger()
	base := serveReal(t, consumer.JSONWebsocket[acker](consumer.WithLogger(logger)), logger)
	conn := wsDial(t, ctx, base+"/room/a/")
	sendText(t, conn, `{"do":"echo","gc_id":"1"}`)
	sendText(t, conn, `{"do":"echo","gc_id":"2"}`)
	for _, want := range []string{`{"do":"echo","gc_id":"1"}`, `{"do":"echo","gc_id":"2"}`} {
		if got := readText(t, conn); got != want {
			t.Fatalf("got %s, want %s (no ack between)", got, want)
		}
	}
	sendText(t, conn, `{"do":"refuse","gc_id":"3"}`)
	if code := readClose(t, conn); code != channels.CloseInternalError {
		t.Fatalf("a SendError without acks: close %d, want 1011", code)
	}
}

func TestSendErrorMessage(t *testing.T) {
	cause := errors.New("cause")
	err := fmt.Errorf("x: %w", &consumer.SendError{Code: "c", Message: "m", Err: cause})
	var se *consumer.SendError
	if !errors.As(err, &se) || !errors.Is(err, cause) {
		t.Fatalf("As/Is: %v", err)
	}
	if got := se.Error(); got != "consumer: send refused (c): m: cause" {
		t.Errorf("Error() = %q", got)
	}
}
