package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/gochannels/gochannels/channels"
)

// typeCounter counts the http.request events of a scope. As a TypedObserver it is told
// each event's type, read once for every observer of the scope, instead of looking it up
// in the event itself.
type typeCounter struct {
	requests atomic.Int64
}

func (c *typeCounter) ReceivedType(typ string, msg channels.Message) channels.Message {
	if typ == channels.TypeHTTPRequest {
		c.requests.Add(1)
	}
	return msg
}

// Received is for callers that do not know the type; Observe calls ReceivedType.
func (c *typeCounter) Received(msg channels.Message) channels.Message {
	return c.ReceivedType(msg.Type(), msg)
}

func (c *typeCounter) Sent(channels.Message, error) {}

func (c *typeCounter) Ended(error, bool) {
	fmt.Println("request events:", c.requests.Load())
}

// A TypedObserver gets the event type with each event; with CountBytes (see ExampleObserve)
// around it, the type is read once for both observers.
func ExampleTypedObserver() {
	ok := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		if _, err := receive.Receive(ctx); err != nil {
			return err
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 204}); err != nil {
			return err
		}
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody})
	})
	app := CountBytes(channels.Observe(ok, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		return &typeCounter{}
	}))
	srv := &channels.Server{Application: app}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ok", strings.NewReader("hi")))
	fmt.Println(rec.Code)
	// Output:
	// request events: 1
	// /ok: 2 bytes in, 0 out, result <nil>
	// 204
}
