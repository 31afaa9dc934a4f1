package channels_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/gochannels/gochannels/channels"
)

// byteCounter is a middleware's Observer: it adds up the payload bytes of one scope and
// prints them when the scope ends.
type byteCounter struct {
	path    string
	mu      sync.Mutex
	in, out int
}

func (c *byteCounter) Received(msg channels.Message) channels.Message {
	c.mu.Lock()
	c.in += len(msg.Bytes("body")) + len(msg.String("text")) + len(msg.Bytes("bytes"))
	c.mu.Unlock()
	return msg
}

func (c *byteCounter) Sent(msg channels.Message, err error) {
	if err == nil {
		c.mu.Lock()
		c.out += len(msg.Bytes("body")) + len(msg.String("text")) + len(msg.Bytes("bytes"))
		c.mu.Unlock()
	}
}

func (c *byteCounter) Ended(result error, panicked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Printf("%s: %d bytes in, %d out, result %v\n", c.path, c.in, c.out, result)
}

// CountBytes is middleware built on Observe: the application behind it still gets the
// server's Injector, Detacher and TextSender through the wrapped Receiver and Sender.
func CountBytes(app channels.Application) channels.Application {
	return channels.Observe(app, func(ctx context.Context, scope *channels.Scope) channels.Observer {
		if scope.Type == channels.ScopeChannel {
			return nil // not observed
		}
		return &byteCounter{path: scope.Path}
	})
}

// Observe lets middleware watch a scope's traffic without wrapping the Receiver and
// Sender by hand.
func ExampleObserve() {
	twice := channels.ApplicationFunc(func(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": 200}); err != nil {
			return err
		}
		body := msg.Bytes("body")
		return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": append(body, body...)})
	})
	srv := &channels.Server{Application: CountBytes(twice)}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/twice", strings.NewReader("echo")))
	fmt.Println(rec.Code, rec.Body.String())
	// Output:
	// /twice: 4 bytes in, 8 out, result <nil>
	// 200 echoecho
}
