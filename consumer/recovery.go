package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
)

// Recovery after a reconnect: a client that lost its connection says, per group ("stream"),
// the last position it saw; the consumer joins the group again and replays what it missed
// through its handlers before any newer message, or says that it cannot. The browser client
// (gochannels.js) does its part by itself; the frames are:
//
//	server → client, a group message:  {..., "pos": {"stream": "<group>", "offset": 12, "epoch": "<epoch>"}}
//	client → server, at connect:       ?resume=<URL-encoded {"<group>": {"offset": 12, "epoch": "<epoch>"}, ...}>
//	server → client, after the replay: {"gochannels": "recovered", "stream": "<group>", "replayed": 3, "pos": {...}}
//	                           or      {"gochannels": "unrecoverable", "stream": "<group>", "reason": "epoch"|"gap", "pos": {...}}
//	server → client, later, when messages of a tracked group were lost (see LostMessagesHandler):
//	                                   {"gochannels": "unrecoverable", "stream": "<group>", "reason": "epoch"|"gap", "pos": {...}}

// ResumeParam is the query parameter in which a reconnecting client gives its last
// positions: a JSON object {"<group>": {"offset": <integer>, "epoch": "<string>"}, ...}.
const ResumeParam = "resume"

// Bounds of a resume parameter: a larger one is refused as bad.
const (
	MaxResumeStreams = 64
	maxResumeBytes   = 16 << 10
	maxEpochBytes    = 128
)

// ErrBadResume is returned (wrapped) for a resume parameter that cannot be parsed; the
// handshake is refused with HTTP 400 and a body that says why.
var ErrBadResume = errors.New("consumer: bad resume parameter")

// ResumePositions parses the resume query parameter (ResumeParam) of scope: the last
// position the client saw per group. It returns nil and no error when there is none, and an
// error wrapping ErrBadResume for a value that is not such an object (at most
// MaxResumeStreams groups with valid names, non-negative integer offsets, string epochs, not
// empty unless the offset is 0). Other keys of a group's object are ignored.
// The groups are only what the client claims: join only those the application allows
// (JoinResumed does).
func ResumePositions(scope *channels.Scope) (map[string]layers.Position, error) {
	q, err := url.ParseQuery(scope.QueryString)
	if err != nil {
		// Another parameter may be malformed; look at resume alone.
		q = url.Values{}
		for _, part := range bytes.Split([]byte(scope.QueryString), []byte("&")) {
			k, v, _ := bytes.Cut(part, []byte("="))
			if string(k) == ResumeParam {
				val, err := url.QueryUnescape(string(v))
				if err != nil {
					return nil, fmt.Errorf("%w: not URL-encoded: %v", ErrBadResume, err)
				}
				q.Add(ResumeParam, val)
			}
		}
	}
	vals := q[ResumeParam]
	switch {
	case len(vals) == 0:
		return nil, nil
	case len(vals) > 1:
		return nil, fmt.Errorf("%w: given %d times", ErrBadResume, len(vals))
	case len(vals[0]) > maxResumeBytes:
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadResume, len(vals[0]), maxResumeBytes)
	}
	var raw map[string]struct {
		Offset json.RawMessage `json:"offset"`
		Epoch  *string         `json:"epoch"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(vals[0])))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf(`%w: want {"<group>": {"offset": <integer>, "epoch": "<string>"}, ...}: %v`, ErrBadResume, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadResume)
	}
	if len(raw) > MaxResumeStreams {
		return nil, fmt.Errorf("%w: %d streams, more than %d", ErrBadResume, len(raw), MaxResumeStreams)
	}
	out := make(map[string]layers.Position, len(raw))
	for g, p := range raw {
		if err := layers.ValidateGroupName(g); err != nil {
			return nil, fmt.Errorf("%w: stream %q: %v", ErrBadResume, g, err)
		}
		off, err := strconv.ParseUint(string(p.Offset), 10, 64) // digits only: no quotes, sign, fraction
		if err != nil {
			return nil, fmt.Errorf("%w: stream %q: offset %q is not a non-negative integer", ErrBadResume, g, p.Offset)
		}
		if p.Epoch == nil || len(*p.Epoch) > maxEpochBytes {
			return nil, fmt.Errorf("%w: stream %q: want an epoch string of at most %d bytes", ErrBadResume, g, maxEpochBytes)
		}
		if off > 0 && *p.Epoch == "" {
			// An empty epoch would match any stream: offsets of another one would be taken
			// for those the client saw.
			return nil, fmt.Errorf("%w: stream %q: offset %d without its epoch", ErrBadResume, g, off)
		}
		out[g] = layers.Position{Offset: off, Epoch: *p.Epoch}
	}
	return out, nil
}

// Recovery is the outcome of GroupAddSince for one group.
type Recovery struct {
	// Group is the group joined.
	Group string
	// Recovered is true when every missed message was replayed.
	Recovered bool
	// Replayed is the number of messages replayed through the handlers.
	Replayed int
	// Top is the position of the last message replayed (the position asked for when none
	// was missed) or, when not Recovered, the group's current top (for a loss found later,
	// in live delivery: the position right before the message that revealed it; see
	// LostMessagesHandler).
	Top layers.Position
	// Reason says why the messages could not be recovered: layers.ReasonEpoch or
	// layers.ReasonGap ("" when Recovered).
	Reason string
}

// GroupAddSince joins group (as GroupAdd) and replays, through the consumer's handlers and
// in order, the messages of group after since that the layer's history still holds, before
// any newer message of the group reaches a handler: the live messages that were replayed
// already are skipped, so each message is handled once. From then on the consumer tracks the
// group's positions: its messages reach the handlers in offset order, each once, gaps filled
// from history (see MaxGapFill and LostMessagesHandler). Call it from a hook or handler (for a
// WebSocket, after Accept: the replayed messages' handlers usually send frames).
//
// When the messages cannot all be given (the epoch changed, or some are no longer kept) it
// replays none, returns Recovered false with the Reason and the group's top, and no error:
// the application reloads its state instead. The group stays joined either way, tracked from
// that top on (live messages at or below it are skipped: the reloaded state holds them). It returns
// an error wrapping layers.ErrNotSupported when the layer keeps no history for group, and
// the error of a replayed message's handler (the replay stops there).
//
// The replay runs in the calling handler, one message after the other (at most
// layers.MaxHistoryLimit, and what the group's HistoryRule keeps): the frames its handlers
// send count against the connection's outbound bound (channels.Server.OutboundQueueBytes)
// like any others, so choose history sizes whose replay a client can take.
func (c *Consumer) GroupAddSince(ctx context.Context, group string, since layers.Position) (Recovery, error) {
	r := Recovery{Group: group}
	if c.replay == nil {
		return r, fmt.Errorf("consumer: join group %q since %d: the consumer is not running", group, since.Offset)
	}
	if err := c.GroupAdd(ctx, group); err != nil {
		return r, err
	}
	page, err := layers.Recover(ctx, c.layer, group, since, layers.MaxHistoryLimit)
	var ue *layers.UnrecoverableError
	switch {
	case errors.As(err, &ue):
		r.Top, r.Reason = ue.Top, ue.Reason
		c.Logger().Debug("consumer: missed messages cannot be recovered", "group", group, "error", err)
		// The client reloads its state, which holds the messages up to the top: tracking
		// starts there.
		c.track(group, ue.Top)
		return r, nil
	case err != nil:
		return r, fmt.Errorf("consumer: join group %q since %d: %w", group, since.Offset, err)
	}
	// Live messages up to the top are replayed ones (skipped), later ones follow in order.
	c.track(group, page.Top)
	r.Top = page.Top
	for _, m := range page.Messages {
		if err := c.replay(ctx, m); err != nil {
			return r, fmt.Errorf("consumer: replay of a %q message of group %q: %w", m.Type(), group, err)
		}
		r.Replayed++
	}
	r.Recovered = true
	return r, nil
}

// PositionFrame returns the "pos" object of the frame that forwards msg to a client,
// {"stream": <group>, "offset": <n>, "epoch": <epoch>}, and false when msg has no position
// (its group keeps no history).
func PositionFrame(msg channels.Message) (map[string]any, bool) {
	g, pos, ok := layers.PositionOf(msg)
	if !ok {
		return nil, false
	}
	return positionObject(g, pos), true
}

func positionObject(group string, pos layers.Position) map[string]any {
	return map[string]any{"stream": group, "offset": pos.Offset, "epoch": pos.Epoch}
}

// AddPosition adds to frame, a JSON object about to be sent to a client for the group
// message msg, the key "pos" with msg's position (see PositionFrame), so that the client can
// resume from it; it returns frame, unchanged when msg has no position.
func AddPosition(frame map[string]any, msg channels.Message) map[string]any {
	if p, ok := PositionFrame(msg); ok {
		frame["pos"] = p
	}
	return frame
}

// RecoveryFrame returns the frame that tells a client the outcome of r:
// {"gochannels": "recovered", "stream", "replayed", "pos"} or {"gochannels":
// "unrecoverable", "stream", "reason", "pos"}.
func RecoveryFrame(r Recovery) map[string]any {
	if r.Recovered {
		return map[string]any{"gochannels": "recovered", "stream": r.Group, "replayed": r.Replayed, "pos": positionObject(r.Group, r.Top)}
	}
	return map[string]any{"gochannels": "unrecoverable", "stream": r.Group, "reason": r.Reason, "pos": positionObject(r.Group, r.Top)}
}

// SendRecovery sends the client the frame of r (RecoveryFrame).
func (w *WebsocketConsumer) SendRecovery(ctx context.Context, r Recovery) error {
	b, err := json.Marshal(RecoveryFrame(r))
	if err != nil {
		return fmt.Errorf("consumer: recovery frame: %w", err)
	}
	return w.SendText(ctx, string(b))
}

// JoinResumed joins groups for a client that may be reconnecting; call it from Connect. It
// reads the client's last positions from the resume query parameter (ResumePositions): a bad
// one refuses the handshake with HTTP 400 saying why, and JoinResumed returns an error
// wrapping ErrDeny and ErrBadResume for Connect to return. Otherwise it accepts the
// connection (unless Connect did), then joins each group: with GroupAddSince and a recovery
// frame (SendRecovery) after the replayed messages when the client gave a position for it,
// with GroupAddTracked when it did not (so every group is delivered in offset order, and a
// gap that cannot be filled later gets an "unrecoverable" frame too). Positions for groups not in groups are ignored: the client
// cannot join a group the application does not name. A group that keeps no history gets an
// "unrecoverable" frame with reason "epoch".
func (w *WebsocketConsumer) JoinResumed(ctx context.Context, groups ...string) ([]Recovery, error) {
	positions, err := ResumePositions(w.scope)
	if err != nil {
		w.Logger().Debug("consumer: connection refused: bad resume parameter", "path", w.scope.Path, "error", err)
		if !w.accepted && !w.closed {
			_ = w.Deny(ctx, &channels.Denial{Status: http.StatusBadRequest,
				Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte(err.Error() + "\n")})
		} else {
			_ = w.CloseReason(ctx, channels.ClosePolicyViolation, "bad resume parameter")
		}
		return nil, fmt.Errorf("%w: %w", ErrDeny, err)
	}
	if !w.accepted && !w.closed {
		if err := w.Accept(ctx); err != nil {
			return nil, err
		}
	}
	var out []Recovery
	for _, g := range groups {
		since, ok := positions[g]
		if !ok {
			if err := w.GroupAddTracked(ctx, g); err != nil {
				return out, err
			}
			continue
		}
		r, err := w.GroupAddSince(ctx, g, since)
		if errors.Is(err, layers.ErrNotSupported) {
			r, err = Recovery{Group: g, Reason: layers.ReasonEpoch}, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if err := w.SendRecovery(ctx, r); err != nil {
			return out, err
		}
	}
	return out, nil
}
