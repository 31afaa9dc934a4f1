package redislayer

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gochannels/gochannels/channels"
	"github.com/gochannels/gochannels/layers"
	"github.com/gochannels/gochannels/layers/internal/local"
)

// inboxLoop is the one receive loop of a process inbox.
type inboxLoop struct {
	inbox  string
	key    string
	client redis.UniversalClient
	owned  bool // client is dedicated and closed with the loop
}

// NewChannel returns a new process-specific channel "<prefix>.<process id>!<random>", as
// channels_redis names them, and starts (once per inbox) the receive loop that will deliver
// its messages. It makes no Redis call.
func (l *Layer) NewChannel(ctx context.Context, prefix string) (string, error) {
	if l.closed.Load() {
		return "", l.closedErr("new channel")
	}
	if prefix == "" {
		prefix = "specific"
	}
	var r [16]byte
	_, _ = crand.Read(r[:])
	inbox := prefix + "." + l.clientID + "!"
	name := inbox + hex.EncodeToString(r[:])
	if err := layers.ValidateChannelName(name); err != nil {
		return "", fmt.Errorf("redislayer: new channel with prefix %q: %w", prefix, err)
	}
	if err := l.ensureInbox(inbox); err != nil {
		return "", err
	}
	return name, nil
}

// ensureInbox starts the receive loop of inbox (and the heartbeat) if it is not running.
func (l *Layer) ensureInbox(inbox string) error {
	l.mu.RLock()
	_, ok := l.inboxes[inbox]
	l.mu.RUnlock()
	if ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return l.closedErr("receive loop")
	}
	if _, ok := l.inboxes[inbox]; ok {
		return nil
	}
	sh := l.shards[shardIndex(inbox, len(l.shards))]
	ib := &inboxLoop{inbox: inbox, key: l.prefix + inbox, client: sh.client}
	if sh.dedicated != nil {
		ib.client, ib.owned = sh.dedicated(), true
	}
	l.inboxes[inbox] = ib
	l.wg.Add(1)
	go l.runInbox(ib)
	l.hbOnce.Do(func() {
		l.wg.Add(1)
		go l.runHeartbeat()
	})
	return nil
}

// ownInbox reports whether a process-specific channel belongs to this layer.
func (l *Layer) ownInbox(inbox string) bool {
	return strings.HasSuffix(inbox, "."+l.clientID+"!")
}

// Listen creates a new process-specific channel and calls deliver with each message sent to
// it, from the inbox's one receive loop, until stop is called. deliver must not block and
// must not call stop; when it returns false the message is dropped and counted in Stats.
func (l *Layer) Listen(ctx context.Context, prefix string, deliver func(channels.Message) bool) (string, func(), error) {
	if deliver == nil {
		return "", nil, errors.New("redislayer: listen: nil deliver function")
	}
	name, err := l.NewChannel(ctx, prefix)
	if err != nil {
		return "", nil, err
	}
	lc := local.NewListener(name, deliver)
	l.mu.Lock()
	l.local[name] = lc
	l.mu.Unlock()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			// The stopped channel stays in the table (until the sweep after the message
			// expiry), so that late messages are dropped instead of creating a Receive
			// buffer under its name.
			lc.Stop()
			l.mu.Lock()
			delete(l.joined, name)
			delete(l.presence, name)
			l.mu.Unlock()
		})
	}
	return name, stop, nil
}

// buffer returns the Receive buffer of a local channel, creating it.
func (l *Layer) buffer(channel string) (*local.Chan, error) {
	lc := l.localChan(channel)
	if lc.Box() == nil {
		return nil, fmt.Errorf("redislayer: receive on %q: the channel is (or was) served by Listen", channel)
	}
	return lc, nil
}

// localChan returns the local channel of that name: a Listen callback, or a Receive buffer,
// created when there is none (closed at once when the layer is).
func (l *Layer) localChan(channel string) *local.Chan {
	l.mu.RLock()
	lc := l.local[channel]
	l.mu.RUnlock()
	if lc != nil {
		return lc
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lc, created := l.local.Buffer(channel, l.localCap)
	if created && l.closed.Load() {
		lc.Box().Close(nil)
	}
	return lc
}

// popBatch blocks up to block for the inbox and returns up to inboxBatch members in score
// order (BZMPOP; one BZPOPMIN on servers older than Redis 7).
func (ib *inboxLoop) popBatch(ctx context.Context, block time.Duration, noBZMPOP *bool) ([]string, error) {
	secs := strconv.FormatFloat(block.Seconds(), 'f', 3, 64)
	if !*noBZMPOP {
		res, err := ib.client.Do(ctx, "bzmpop", secs, 1, ib.key, "MIN", "COUNT", inboxBatch).Slice()
		if err == redis.Nil {
			return nil, nil
		}
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command") {
			*noBZMPOP = true
		} else if err != nil {
			return nil, err
		} else {
			if len(res) != 2 {
				return nil, fmt.Errorf("unexpected BZMPOP reply of %d elements", len(res))
			}
			pairs, _ := res[1].([]any)
			out := make([]string, 0, len(pairs))
			for _, p := range pairs {
				if pair, ok := p.([]any); ok && len(pair) == 2 {
					if s, ok := pair[0].(string); ok {
						out = append(out, s)
					}
				}
			}
			return out, nil
		}
	}
	s, ok, err := popBlocking(ctx, ib.client, ib.key, block)
	if err != nil || !ok {
		return nil, err
	}
	return []string{s}, nil
}

// runInbox is the one receive loop of a process inbox: it pops batches of messages, decodes
// each once and hands it to the local channel(s) named in __asgi_channel__. On Redis errors it
// retries with capped exponential backoff until Close.
func (l *Layer) runInbox(ib *inboxLoop) {
	defer l.wg.Done()
	if ib.owned {
		defer ib.client.Close()
	}
	backoff := time.Duration(0)
	noBZMPOP := false
	failing := false
	for l.ctx.Err() == nil {
		block := inboxBlock
		if failing {
			block = 50 * time.Millisecond // notice Redis's return quickly
		}
		members, err := ib.popBatch(l.ctx, block, &noBZMPOP)
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			l.st.recvErrs.Add(1)
			if !failing {
				l.log.Warn("receive loop: Redis call failed; retrying with backoff", "inbox", ib.inbox, "error", err)
				failing = true
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		if failing {
			l.log.Info("receive loop: Redis reachable again", "inbox", ib.inbox)
			failing = false
			select {
			case l.recovered <- struct{}{}:
			default:
			}
		}
		backoff = 0
		for _, m := range members {
			l.dispatch(ib.inbox, m)
		}
	}
}

// dispatch decodes one inbox message and delivers it to its local channel(s).
func (l *Layer) dispatch(inbox, member string) {
	l.st.received.Add(1)
	msg, names, err := l.decodeInboxMember(member)
	if err != nil {
		l.st.undecodable.Add(1)
		l.log.Error("dropping undecodable message", "inbox", inbox, "error", err)
		return
	}
	if len(names) == 0 {
		l.st.undecodable.Add(1)
		l.log.Error("dropping inbox message without a valid __asgi_channel__", "inbox", inbox, "type", msg.Type())
		return
	}
	for _, name := range names {
		l.deliverLocal(name, msg)
	}
}

// deliverLocal hands msg to the local channel name. A channel not yet received on (a
// NewChannel whose first Receive is still to come) gets a Receive buffer that keeps it.
func (l *Layer) deliverLocal(name string, msg channels.Message) {
	l.localChan(name).Deliver(&l.delivery, msg)
}
