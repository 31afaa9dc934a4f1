package consumer

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

// One consumer per kind defining every hook that kind looks for, checked against the hook
// interfaces at compile time.
type (
	wsHooks   struct{ WebsocketConsumer }
	jsonHooks struct{ JSONWebsocketConsumer }
	httpHooks struct{ HTTPConsumer }
)

var (
	_ interface {
		Grouper
		Connecter
		FrameReceiver
		Disconnecter
	} = (*wsHooks)(nil)
	_ interface {
		Grouper
		Connecter
		Disconnecter
		JSONReceiver
		InvalidJSONReceiver
		BinaryReceiver
	} = (*jsonHooks)(nil)
	_ interface {
		Grouper
		RequestHandler
		HTTPDisconnecter
	} = (*httpHooks)(nil)
)

func (*wsHooks) Groups() []string                                          { return nil }
func (*wsHooks) Connect(context.Context) error                             { return nil }
func (*wsHooks) Receive(context.Context, string, []byte) error             { return nil }
func (*wsHooks) Disconnect(context.Context, int) error                     { return nil }
func (*jsonHooks) Groups() []string                                        { return nil }
func (*jsonHooks) Connect(context.Context) error                           { return nil }
func (*jsonHooks) Disconnect(context.Context, int) error                   { return nil }
func (*jsonHooks) ReceiveJSON(context.Context, json.RawMessage) error      { return nil }
func (*jsonHooks) ReceiveInvalidJSON(context.Context, []byte, error) error { return nil }
func (*jsonHooks) ReceiveBinary(context.Context, []byte) error             { return nil }
func (*httpHooks) Groups() []string                                        { return nil }
func (*httpHooks) Handle(context.Context, *Request) error                  { return nil }
func (*httpHooks) Disconnect(context.Context) error                        { return nil }

// hookTypeInfo builds the typeInfo of P as kind k and checks that every method P defines
// (all of them hooks) is taken for a hook of that kind, none for a message handler.
func hookTypeInfo[P any](t *testing.T, k kind) *typeInfo[P] {
	t.Helper()
	ti, err := lookupInfo[P](k)
	if err != nil {
		t.Fatalf("%s consumer with every hook: %v", k, err)
	}
	if len(ti.methods) != 0 {
		t.Errorf("%s consumer: hooks taken for handlers: %v", k, ti.methods)
	}
	pt := reflect.TypeFor[P]()
	for i := 0; i < pt.NumMethod(); i++ {
		name := pt.Method(i).Name
		if why := ti.others[name]; why != "it belongs to the consumer base" && why != "it is a hook of a "+k.String()+" consumer" {
			t.Errorf("%s consumer: %s is not a hook: %q", k, name, why)
		}
	}
	return ti
}

// TestHookInterfaces: a method that satisfies a hook interface is found as that hook, so
// each hook's function type and interface agree, and kindHooks lists every hook a kind calls.
func TestHookInterfaces(t *testing.T) {
	ws := hookTypeInfo[*wsHooks](t, kindWebsocket)
	if ws.groups == nil || ws.connect == nil || ws.receive == nil || ws.disconnectWS == nil {
		t.Errorf("WebSocket hooks not all found: %+v", ws)
	}
	js := hookTypeInfo[*jsonHooks](t, kindJSON)
	if js.groups == nil || js.connect == nil || js.disconnectWS == nil || js.receiveJSON == nil ||
		js.receiveInvalidJSON == nil || js.receiveBinary == nil {
		t.Errorf("JSON WebSocket hooks not all found: %+v", js)
	}
	h := hookTypeInfo[*httpHooks](t, kindHTTP)
	if h.groups == nil || h.handle == nil || h.disconnectHTTP == nil {
		t.Errorf("HTTP hooks not all found: %+v", h)
	}
}
