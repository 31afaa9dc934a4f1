package redislayer

import (
	"bytes"
	crand "crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/gochannels/gochannels/channels"
)

// member builds a stored member: 12 random bytes, then the msgpack payload (encrypted when
// keys are configured).
func (l *Layer) member(msg channels.Message, channel any) (string, error) {
	var buf bytes.Buffer
	buf.Grow(256)
	var rnd [randomPrefixLen]byte
	_, _ = crand.Read(rnd[:])
	buf.Write(rnd[:])
	if err := encodeMessage(&buf, msg, channel); err != nil {
		return "", err
	}
	if l.crypt == nil {
		return buf.String(), nil
	}
	tok := l.crypt.encrypt(buf.Bytes()[randomPrefixLen:])
	return string(rnd[:]) + string(tok), nil
}

// decodeMember reverses member; errors mean a bad stored message.
func (l *Layer) decodeMember(m string) (channels.Message, error) {
	payload, err := l.payloadOf(m)
	if err != nil {
		return nil, err
	}
	return decodeMessageString(payload)
}

// decodeInboxMember reverses member for a process inbox message: the message and the local
// channels its __asgi_channel__ names (see decodeInbox).
func (l *Layer) decodeInboxMember(m string) (channels.Message, []string, error) {
	payload, err := l.payloadOf(m)
	if err != nil {
		return nil, nil, err
	}
	return decodeInbox(payload)
}

// payloadOf returns the msgpack payload of a stored member: what follows the random prefix,
// decrypted when the layer encrypts.
func (l *Layer) payloadOf(m string) (string, error) {
	if len(m) < randomPrefixLen {
		return "", fmt.Errorf("%w: %d bytes, shorter than the random prefix", errBadPayload, len(m))
	}
	if l.crypt == nil {
		return m[randomPrefixLen:], nil
	}
	payload, err := l.crypt.decrypt([]byte(m[randomPrefixLen:]))
	if err != nil {
		return "", err
	}
	return blobString(payload), nil // the decrypted buffer is ours alone
}

func score(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}
