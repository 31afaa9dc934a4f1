package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/gochannels/gochannels/channels"
)

// HandlerName returns the name of the method that handles messages of type msgType: each
// "."- or "_"-separated word capitalised and joined, so "chat.message" → "ChatMessage" and
// "user_joined.now" → "UserJoinedNow". It returns "" for a type that cannot name an exported
// method: empty, starting with "_" (Django refuses those too), or holding characters that are
// not letters or digits once the separators are removed.
func HandlerName(msgType string) string {
	if msgType == "" || msgType[0] == '_' {
		return ""
	}
	var b strings.Builder
	b.Grow(len(msgType))
	upper := true
	for _, r := range msgType {
		switch {
		case r == '.' || r == '_':
			upper = true
			continue
		case r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)):
			return ""
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	name := b.String()
	if first, _ := utf8.DecodeRuneInString(name); !unicode.IsUpper(first) {
		return ""
	}
	return name
}

// kind is the sort of consumer an application runs a type as.
type kind uint8

const (
	kindGeneric kind = iota
	kindWebsocket
	kindJSON
	kindHTTP
)

func (k kind) String() string {
	return [...]string{"generic", "WebSocket", "JSON WebSocket", "HTTP"}[k]
}

// Marker interfaces: their unexported methods are only ever promoted from the bases, so a
// type satisfies one exactly when it embeds that base.
type (
	base interface {
		consumerBase() *Consumer
	}
	websocketBase interface {
		base
		websocketBase() *WebsocketConsumer
	}
	jsonBase interface {
		websocketBase
		jsonBase() *JSONWebsocketConsumer
	}
	httpBase interface {
		base
		httpBase() *HTTPConsumer
	}
)

var messageType = reflect.TypeFor[channels.Message]()

// baseTypes are the bases, by the kind of consumer each one makes: the marker interface a
// type satisfies exactly when it embeds the base, and the base's pointer type, whose
// methods are never message handlers.
var baseTypes = [...]struct {
	marker reflect.Type
	ptr    reflect.Type
}{
	kindGeneric:   {reflect.TypeFor[base](), reflect.TypeFor[*Consumer]()},
	kindWebsocket: {reflect.TypeFor[websocketBase](), reflect.TypeFor[*WebsocketConsumer]()},
	kindJSON:      {reflect.TypeFor[jsonBase](), reflect.TypeFor[*JSONWebsocketConsumer]()},
	kindHTTP:      {reflect.TypeFor[httpBase](), reflect.TypeFor[*HTTPConsumer]()},
}

// embeddedKind returns the kind of consumer the pointer type t makes by the base it embeds,
// the most specific one (a JSONWebsocketConsumer is a WebsocketConsumer too), and false when
// it embeds none.
func embeddedKind(t reflect.Type) (kind, bool) {
	for _, k := range [...]kind{kindJSON, kindWebsocket, kindHTTP, kindGeneric} {
		if t.Implements(baseTypes[k].marker) {
			return k, true
		}
	}
	return kindGeneric, false
}

// handlerFunc is a handler method as a function of its receiver.
type handlerFunc[P any] func(P, context.Context, channels.Message) error

// maxCachedTypes bounds the per-type cache of message type → handler, so that a stream of
// distinct unknown types cannot grow it without limit.
const maxCachedTypes = 512

// typeInfo is what a consumer type's reflection yields, computed once per type and kind.
type typeInfo[P any] struct {
	name    string
	kind    kind
	methods map[string]handlerFunc[P] // handler methods by name
	others  map[string]string         // other exported methods: name → why it is not a handler

	cacheMu sync.Mutex
	cache   atomic.Pointer[map[string]*resolved[P]] // message type → its handler
	last    atomic.Pointer[resolved[P]]             // the type resolved last

	groups             func(P) []string
	connect            func(P, context.Context) error
	receive            func(P, context.Context, string, []byte) error
	disconnectWS       func(P, context.Context, int) error
	receiveJSON        func(P, context.Context, json.RawMessage) error
	receiveInvalidJSON func(P, context.Context, []byte, error) error
	receiveBinary      func(P, context.Context, []byte) error
	handle             func(P, context.Context, *Request) error
	disconnectHTTP     func(P, context.Context) error
}

type infoKey struct {
	t reflect.Type
	k kind
}

type infoEntry struct {
	ti  any // *typeInfo[P]
	err error
}

var infoCache sync.Map // infoKey → infoEntry

// lookupInfo returns the typeInfo of P run as kind k, building it on first use.
func lookupInfo[P any](k kind) (*typeInfo[P], error) {
	t := reflect.TypeFor[P]()
	key := infoKey{t, k}
	if e, ok := infoCache.Load(key); ok {
		e := e.(infoEntry)
		if e.err != nil {
			return nil, e.err
		}
		return e.ti.(*typeInfo[P]), nil
	}
	ti, err := buildInfo[P](t, k)
	var e infoEntry
	if err != nil {
		e.err = err
	} else {
		e.ti = ti
	}
	actual, _ := infoCache.LoadOrStore(key, e)
	if e := actual.(infoEntry); e.err != nil {
		return nil, e.err
	} else {
		return e.ti.(*typeInfo[P]), nil
	}
}

func buildInfo[P any](t reflect.Type, k kind) (*typeInfo[P], error) {
	ti := &typeInfo[P]{
		name:    t.Elem().String(),
		kind:    k,
		methods: map[string]handlerFunc[P]{},
		others:  map[string]string{},
	}
	var problems []string
	baseNames := map[string]bool{}
	for _, b := range baseTypes {
		if t.Implements(b.marker) {
			for i := 0; i < b.ptr.NumMethod(); i++ {
				baseNames[b.ptr.Method(i).Name] = true
			}
		}
	}
	hooks := map[string]bool{}
	for _, h := range kindHooks[k] {
		hooks[h.Method(0).Name] = true
	}

	ti.groups = hook[func(P) []string, Grouper](t, &problems)
	switch k {
	case kindWebsocket, kindJSON:
		ti.connect = hook[func(P, context.Context) error, Connecter](t, &problems)
		ti.disconnectWS = hook[func(P, context.Context, int) error, Disconnecter](t, &problems)
		if k == kindWebsocket {
			ti.receive = hook[func(P, context.Context, string, []byte) error, FrameReceiver](t, &problems)
			break
		}
		ti.receiveJSON = hook[func(P, context.Context, json.RawMessage) error, JSONReceiver](t, &problems)
		ti.receiveInvalidJSON = hook[func(P, context.Context, []byte, error) error, InvalidJSONReceiver](t, &problems)
		ti.receiveBinary = hook[func(P, context.Context, []byte) error, BinaryReceiver](t, &problems)
		if _, ok := t.MethodByName(hookMethod[FrameReceiver]().Name); ok {
			problems = append(problems, "method Receive is never called on a JSON WebSocket consumer: text frames go to ReceiveJSON(context.Context, json.RawMessage) error and binary frames to ReceiveBinary(context.Context, []byte) error")
		}
	case kindHTTP:
		ti.handle = hook[func(P, context.Context, *Request) error, RequestHandler](t, &problems)
		ti.disconnectHTTP = hook[func(P, context.Context) error, HTTPDisconnecter](t, &problems)
		if _, ok := t.MethodByName(hookMethod[RequestHandler]().Name); !ok {
			problems = append(problems, "an HTTP consumer needs a method Handle(context.Context, *consumer.Request) error")
		}
	}

	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		switch {
		case baseNames[m.Name]:
			ti.others[m.Name] = "it belongs to the consumer base"
			continue
		case hooks[m.Name]:
			ti.others[m.Name] = "it is a hook of a " + k.String() + " consumer"
			continue
		}
		if f, ok := m.Func.Interface().(func(P, context.Context, channels.Message) error); ok {
			ti.methods[m.Name] = f
			continue
		}
		takesMessage := false
		for j := 1; j < m.Type.NumIn(); j++ {
			if m.Type.In(j) == messageType {
				takesMessage = true
			}
		}
		if takesMessage {
			problems = append(problems, fmt.Sprintf("method %s takes a channels.Message but has signature %s; a handler must be func(context.Context, channels.Message) error",
				m.Name, signature(m)))
			continue
		}
		ti.others[m.Name] = "its signature is " + signature(m) + ", not func(context.Context, channels.Message) error"
	}
	if len(problems) > 0 {
		return nil, &ShapeError{Consumer: ti.name, Problems: problems}
	}
	empty := map[string]*resolved[P]{}
	ti.cache.Store(&empty)
	return ti, nil
}

// hook returns the method of t that the hook interface I names, as a function of type F (the
// method with its receiver first); nil when t has no method of that name. A method of that
// name with another signature than I's is recorded as a problem.
func hook[F, I any](t reflect.Type, problems *[]string) F {
	var zero F
	want := hookMethod[I]()
	m, ok := t.MethodByName(want.Name)
	if !ok {
		return zero
	}
	f, ok := m.Func.Interface().(F)
	if !ok {
		*problems = append(*problems, fmt.Sprintf("method %s has signature %s, want %s", want.Name, signature(m), want.Type))
		return zero
	}
	return f
}

// signature renders a method's type without its receiver, e.g. "func(context.Context) error".
func signature(m reflect.Method) string {
	var b strings.Builder
	b.WriteString("func(")
	for i := 1; i < m.Type.NumIn(); i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		if m.Type.IsVariadic() && i == m.Type.NumIn()-1 {
			b.WriteString("..." + m.Type.In(i).Elem().String())
		} else {
			b.WriteString(m.Type.In(i).String())
		}
	}
	b.WriteString(")")
	switch n := m.Type.NumOut(); n {
	case 0:
	case 1:
		b.WriteString(" " + m.Type.Out(0).String())
	default:
		b.WriteString(" (")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m.Type.Out(i).String())
		}
		b.WriteString(")")
	}
	return b.String()
}

// resolved is a message type and its handler (nil: none), as cached by a typeInfo.
type resolved[P any] struct {
	typ string
	h   handlerFunc[P]
}

// handler returns the handler for msgType, or a *NoHandlerError.
//
// The type resolved last is remembered: a consumer type mostly handles one message type after
// another (the members of a group in one process each receive one and the same message, so
// one and the same type string), and that type finds its handler with a comparison of its
// bytes, without hashing for the map lookup. The group message forwarded to each member's
// client resolves its handler once per message rather than once per member.
func (ti *typeInfo[P]) handler(msgType string) (handlerFunc[P], error) {
	r := ti.last.Load()
	if r == nil || r.typ != msgType {
		r = ti.resolve(msgType)
		ti.last.Store(r)
	}
	if r.h == nil {
		return nil, ti.noHandler(msgType)
	}
	return r.h, nil
}

// resolve returns msgType's cache entry, adding it when there is room.
func (ti *typeInfo[P]) resolve(msgType string) *resolved[P] {
	if r, ok := (*ti.cache.Load())[msgType]; ok {
		return r
	}
	r := &resolved[P]{typ: strings.Clone(msgType), h: ti.methods[HandlerName(msgType)]}
	ti.cacheMu.Lock()
	old := *ti.cache.Load()
	if len(old) < maxCachedTypes {
		m := make(map[string]*resolved[P], len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[r.typ] = r
		ti.cache.Store(&m)
	}
	ti.cacheMu.Unlock()
	return r
}

func (ti *typeInfo[P]) noHandler(msgType string) error {
	e := &NoHandlerError{Consumer: ti.name, Type: msgType, Method: HandlerName(msgType)}
	switch {
	case msgType == "":
		e.Reason = `the message has no string "type"`
	case e.Method == "":
		e.Reason = "the type does not name an exported method (words of letters and digits separated by '.' or '_', not starting with '_')"
	case ti.others[e.Method] != "":
		e.Reason = "method " + e.Method + " is not a handler: " + ti.others[e.Method]
	default:
		e.Reason = "the type has no method " + e.Method
	}
	return e
}

// dispatch calls the handler for msg, recovering a panic as a *channels.PanicError.
func (ti *typeInfo[P]) dispatch(p P, ctx context.Context, msg channels.Message) error {
	return ti.dispatchType(p, ctx, msg, msg.Type())
}

// dispatchType is dispatch for a msg whose type the caller has read already.
func (ti *typeInfo[P]) dispatchType(p P, ctx context.Context, msg channels.Message, msgType string) error {
	h, err := ti.handler(msgType)
	if err != nil {
		return err
	}
	return callHandler(h, p, ctx, msg)
}

func callHandler[P any](h handlerFunc[P], p P, ctx context.Context, msg channels.Message) (err error) {
	defer recoverInto(&err)
	return h(p, ctx, msg)
}

// recoverInto turns a panic into a *channels.PanicError in *err. It must be deferred directly.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = channels.NewPanicError(r)
	}
}
