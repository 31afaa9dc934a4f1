package ops_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/channelstest"
	"github.com/gochannels/gochannels/consumer"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/ops"
)

// testApp is a WebSocket and HTTP application whose behaviour the path and the messages pick.
func testApp(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	if scope.Type == channels.ScopeHTTP {
		return testHTTP(ctx, scope, receive, send)
	}
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		switch msg.Type() {
		case channels.TypeWebsocketConnect:
			if scope.Path == "/refuse" {
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose}); err != nil {
					return err
				}
				continue
			}
			if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketAccept}); err != nil {
				return err
			}
		case channels.TypeWebsocketReceive:
			text := msg.String("text")
			switch text {
			case "close4001":
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketClose, "code": 4001}); err != nil {
					return err
				}
			case "panic":
				panic("boom")
			case "fail":
				return errors.New("handler failed")
			case "big":
				err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "bytes": make([]byte, 8<<10)})
				if err == nil {
					return errors.New("a send over OutboundQueueBytes was taken")
				}
			default:
				if err := send.Send(ctx, channels.Message{"type": channels.TypeWebsocketSend, "text": text}); err != nil {
					return err
				}
			}
		case channels.TypeWebsocketDisconnect:
			return nil
		}
	}
}

func testHTTP(ctx context.Context, scope *channels.Scope, receive channels.Receiver, send channels.Sender) error {
	var body []byte
	for {
		msg, err := receive.Receive(ctx)
		if err != nil {
			return err
		}
		body = append(body, msg.Bytes("body")...)
		if !msg.Bool("more_body") {
			break
		}
	}
	status := http.StatusOK
	switch scope.Path {
	case "/missing":
		status = http.StatusNotFound
	case "/fail":
		return errors.New("handler failed")
	case "/panic":
		panic("boom")
	}
	if err := send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseStart, "status": status}); err != nil {
		return err
	}
	return send.Send(ctx, channels.Message{"type": channels.TypeHTTPResponseBody, "body": append([]byte("got "), body...)})
}

func newMetrics() (*ops.Metrics, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return ops.NewMetrics(reg, ""), reg
}

func TestWebsocketCommunicator(t *testing.T) {
	ctx := testCtx(t)
	m, reg := newMetrics()
	app := m.Instrument(channels.ApplicationFunc(testApp))

	c := channelstest.NewWebsocketCommunicator(app, "/ws/")
	if res, err := c.Connect(ctx); err != nil || !res.Accepted {
		t.Fatalf("Connect: %v %v", res, err)
	}
	expect(t, reg, map[string]float64{"gochannels_connections_open{type=websocket}": 1})
	for _, s := range []string{"hello", "world!"} {
		if err := c.SendText(ctx, s); err != nil {
			t.Fatal(err)
		}
		if got, err := c.ReceiveText(ctx); err != nil || got != s {
			t.Fatalf("ReceiveText = %q, %v", got, err)
		}
	}
	if err := c.SendBytes(ctx, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReceiveOutput(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(ctx, 4321); err != nil {
		t.Fatal(err)
	}
	expect(t, reg, map[string]float64{
		"gochannels_connections_open{type=websocket}":                      0,
		"gochannels_connections_total{type=websocket}":                     1,
		"gochannels_messages_received_total{type=websocket}":               3,
		"gochannels_messages_sent_total{type=websocket}":                   3, // the bytes frame is echoed as an empty text
		"gochannels_bytes_received_total{type=websocket}":                  14,
		"gochannels_bytes_sent_total{type=websocket}":                      11,
		"gochannels_websocket_closes_total{code=4xxx,side=client}":         1,
		"gochannels_websocket_handshake_refusals_total":                    0,
		"gochannels_application_failures_total{type=websocket,kind=panic}": 0,
	})

	// A refusal, a panic and a 1011 close by the application.
	r := channelstest.NewWebsocketCommunicator(app, "/refuse")
	if res, err := r.Connect(ctx); err != nil || res.Accepted {
		t.Fatalf("Connect /refuse: %v %v", res, err)
	}
	_ = r.Wait(ctx)
	p := channelstest.NewWebsocketCommunicator(app, "/ws/")
	if _, err := p.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = p.SendText(ctx, "panic")
	_ = p.Wait(ctx)
	expect(t, reg, map[string]float64{
		"gochannels_websocket_handshake_refusals_total":                    1,
		"gochannels_application_failures_total{type=websocket,kind=panic}": 1,
		"gochannels_websocket_closes_total{code=1011,side=application}":    1,
		"gochannels_connections_open{type=websocket}":                      0,
	})
}

func TestHTTPCommunicator(t *testing.T) {
	ctx := testCtx(t)
	m, reg := newMetrics()
	app := m.Instrument(channels.ApplicationFunc(testApp))
	for _, path := range []string{"/ok", "/missing", "/fail"} {
		c := channelstest.NewHTTPCommunicator(app, "POST", path, []byte("abc"))
		_, _ = c.GetResponse(ctx)
		_ = c.Wait(ctx)
	}
	expect(t, reg, map[string]float64{
		"gochannels_http_responses_total{class=2xx}":                  1,
		"gochannels_http_responses_total{class=4xx}":                  1,
		"gochannels_http_responses_total{class=5xx}":                  1,
		"gochannels_bytes_received_total{type=http}":                  9,
		"gochannels_bytes_sent_total{type=http}":                      14,
		"gochannels_application_failures_total{type=http,kind=error}": 1,
		"gochannels_connections_total{type=http}":                     3,
		"gochannels_connections_open{type=http}":                      0,
	})
}

func TestServerWebsocket(t *testing.T) {
	m, reg := newMetrics()
	addr := startServer(t, m.Instrument(channels.ApplicationFunc(testApp)), nil, func(s *channels.Server) {
		s.OutboundQueueBytes = 4 << 10
	})

	// The client closes.
	c := dial(t, addr, "/ws/")
	sendText(t, c, "hi")
	if got := readText(t, c); got != "hi" {
		t.Fatalf("echo = %q", got)
	}
	closeFrom(t, c, 1000)
	if code := readClose(t, c); code != 1000 {
		t.Fatalf("close echo %d", code)
	}
	expect(t, reg, map[string]float64{
		"gochannels_websocket_closes_total{code=1000,side=client}": 1,
		"gochannels_messages_received_total{type=websocket}":       1,
		"gochannels_messages_sent_total{type=websocket}":           1,
		"gochannels_bytes_received_total{type=websocket}":          2,
		"gochannels_connections_open{type=websocket}":              0,
	})

	// The application closes, fails, panics; the client is slow.
	for _, tc := range []struct {
		msg  string
		code int
	}{{"close4001", 4001}, {"fail", 1011}, {"panic", 1011}, {"big", 1008}} {
		c := dial(t, addr, "/ws/")
		sendText(t, c, tc.msg)
		if code := readClose(t, c); code != tc.code {
			t.Fatalf("%s: close %d, want %d", tc.msg, code, tc.code)
		}
		c.Close()
	}
	// A refused handshake.
	if _, _, _, err := (wsDialer()).Dial(testCtx(t), "ws://"+addr+"/refuse"); err == nil {
		t.Fatal("refused handshake succeeded")
	}
	expect(t, reg, map[string]float64{
		"gochannels_websocket_closes_total{code=4001,side=application}":    1,
		"gochannels_websocket_closes_total{code=1011,side=application}":    2,
		"gochannels_websocket_closes_total{code=1008,side=server}":         1,
		"gochannels_websocket_slow_client_closes_total":                    1,
		"gochannels_websocket_slow_closes_total{reason=outbound}":          1,
		"gochannels_application_failures_total{type=websocket,kind=error}": 1,
		"gochannels_application_failures_total{type=websocket,kind=panic}": 1,
		"gochannels_websocket_handshake_refusals_total":                    1,
		"gochannels_connections_total{type=websocket}":                     6,
		"gochannels_connections_open{type=websocket}":                      0,
	})
}

func TestServerHTTP(t *testing.T) {
	m, reg := newMetrics()
	addr := startServer(t, m.Instrument(channels.ApplicationFunc(testApp)), nil, nil)
	client := &http.Client{Timeout: testTimeout}
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		path   string
		status int
	}{{"/ok", 200}, {"/ok", 200}, {"/missing", 404}, {"/fail", 500}, {"/panic", 500}} {
		resp, err := client.Post("http://"+addr+tc.path, "text/plain", strings.NewReader("12345"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
	}
	expect(t, reg, map[string]float64{
		"gochannels_http_responses_total{class=2xx}":                  2,
		"gochannels_http_responses_total{class=4xx}":                  1,
		"gochannels_http_responses_total{class=5xx}":                  2,
		"gochannels_bytes_received_total{type=http}":                  25,
		"gochannels_bytes_sent_total{type=http}":                      3 * 9,
		"gochannels_application_failures_total{type=http,kind=error}": 1,
		"gochannels_application_failures_total{type=http,kind=panic}": 1,
		"gochannels_connections_open{type=http}":                      0,
	})
}

// Room is a consumer whose handler failures exercise the 1011 failure policy and whose
// group messages arrive through the Injector.
type Room struct {
	consumer.WebsocketConsumer
}

func (r *Room) Groups() []string { return []string{"room"} }

func (r *Room) Receive(ctx context.Context, text string, data []byte) error {
	if text == "fail" {
		return errors.New("handler failed")
	}
	return r.GroupSend(ctx, "room", channels.Message{"type": "room.message", "text": text})
}

func (r *Room) RoomMessage(ctx context.Context, msg channels.Message) error {
	return r.SendText(ctx, msg.String("text"))
}

func TestServerConsumerAndLayer(t *testing.T) {
	m, reg := newMetrics()
	mem := layers.NewMemory(layers.MemoryOptions{})
	defer mem.Close()
	layer := m.InstrumentLayer(mem)
	if _, ok := layer.(layers.Listener); !ok {
		t.Fatal("the instrumented memory layer lost Listener")
	}
	app := m.Instrument(consumer.Websocket[Room](consumer.WithLayer(layer), consumer.WithLogger(quiet)))
	addr := startServer(t, app, nil, nil)

	a, b := dial(t, addr, "/ws/"), dial(t, addr, "/ws/")
	expect(t, reg, map[string]float64{"gochannels_layer_operations_total{op=group_add}": 2})
	sendText(t, a, "hello")
	for _, c := range []any{a, b} {
		_ = c
	}
	if got := readText(t, a); got != "hello" {
		t.Fatalf("a got %q", got)
	}
	if got := readText(t, b); got != "hello" {
		t.Fatalf("b got %q", got)
	}
	sendText(t, b, "fail")
	if code := readClose(t, b); code != 1011 {
		t.Fatalf("failing handler closed with %d", code)
	}
	closeFrom(t, a, 1001)
	readClose(t, a)
	expect(t, reg, map[string]float64{
		"gochannels_layer_messages_total{type=websocket,result=delivered}":      2,
		"gochannels_layer_listen_messages_total{result=delivered}":              2,
		"gochannels_layer_operations_total{op=listen}":                          2,
		"gochannels_layer_operations_total{op=group_send}":                      1,
		"gochannels_layer_operations_total{op=group_discard}":                   2,
		"gochannels_layer_operation_duration_seconds{op=group_send}":            1,
		"gochannels_application_failures_total{type=websocket,kind=close_1011}": 1,
		"gochannels_websocket_closes_total{code=1011,side=application}":         1,
		"gochannels_websocket_closes_total{code=1001,side=client}":              1,
		"gochannels_connections_open{type=websocket}":                           0,
	})
}

func TestInstrumentLayer(t *testing.T) {
	ctx := testCtx(t)
	m, reg := newMetrics()
	mem := layers.NewMemory(layers.MemoryOptions{Capacity: 1})
	defer mem.Close()
	l := m.InstrumentLayer(mem)
	msg := channels.Message{"type": "t.m"}
	if err := l.Send(ctx, "c1", msg); err != nil {
		t.Fatal(err)
	}
	if err := l.Send(ctx, "c1", msg); !errors.Is(err, layers.ErrChannelFull) {
		t.Fatalf("second send: %v", err)
	}
	if err := l.Send(ctx, "bad name!!", msg); err == nil {
		t.Fatal("bad name accepted")
	}
	if _, err := l.Receive(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Receive(cctx, "c1"); err == nil {
		t.Fatal("receive on a canceled context succeeded")
	}
	ch, err := l.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.GroupAdd(ctx, "g", ch)
	_ = l.GroupSend(ctx, "g", msg)
	_ = l.GroupDiscard(ctx, "g", ch)
	_ = l.Flush(ctx)

	// Listen: one message taken, one refused.
	take := true
	lch, stop, err := layers.Listen(ctx, l, "specific", func(channels.Message) bool { return take })
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Send(ctx, lch, msg)
	take = false
	_ = l.Send(ctx, lch, msg)
	stop()
	expect(t, reg, map[string]float64{
		"gochannels_layer_operations_total{op=send}":               5,
		"gochannels_layer_channel_full_total{op=send}":             1,
		"gochannels_layer_operation_errors_total{op=send}":         1,
		"gochannels_layer_operations_total{op=receive}":            2,
		"gochannels_layer_operation_errors_total{op=receive}":      0,
		"gochannels_layer_operations_total{op=new_channel}":        1,
		"gochannels_layer_operations_total{op=group_add}":          1,
		"gochannels_layer_operations_total{op=group_send}":         1,
		"gochannels_layer_operations_total{op=group_discard}":      1,
		"gochannels_layer_operations_total{op=flush}":              1,
		"gochannels_layer_operations_total{op=listen}":             1,
		"gochannels_layer_listen_messages_total{result=delivered}": 1,
		"gochannels_layer_listen_messages_total{result=dropped}":   1,
	})
	if u, ok := l.(interface{ Unwrap() layers.Layer }); !ok || u.Unwrap() != mem {
		t.Fatal("Unwrap does not return the memory layer")
	}
}

func TestMetricsHandler(t *testing.T) {
	m, _ := newMetrics()
	addr := startServer(t, m.Instrument(channels.ApplicationFunc(testApp)), nil, nil)
	resp, err := http.Get("http://" + addr + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec := &bytes.Buffer{}
	w := &responseRecorder{header: http.Header{}, body: rec}
	req, _ := http.NewRequest("GET", "/metrics", nil)
	eventually(t, "the scope to end", func() bool {
		rec.Reset()
		m.Handler().ServeHTTP(w, req)
		return strings.Contains(rec.String(), `gochannels_http_responses_total{class="2xx"} 1`)
	})
}

type responseRecorder struct {
	header http.Header
	body   *bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(int)             {}
