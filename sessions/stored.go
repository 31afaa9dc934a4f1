package sessions

import (
	"encoding/json"
	"fmt"
	"time"
)

// storedSession is how the server-side stores (RedisStore, SQLStore) encode a session: its
// values and its expiry in Unix seconds, as JSON.
type storedSession struct {
	Values  map[string]string `json:"v"`
	Expires int64             `json:"e"`
}

func encodeStored(values map[string]string, expires time.Time) ([]byte, error) {
	raw, err := json.Marshal(storedSession{Values: values, Expires: expires.Unix()})
	if err != nil {
		return nil, fmt.Errorf("sessions: encode session: %w", err)
	}
	return raw, nil
}

// decodeStored returns the session id holding raw, or a New session when raw is unreadable
// or expired at now.
func decodeStored(id string, raw []byte, now time.Time) *Session {
	var st storedSession
	if err := json.Unmarshal(raw, &st); err != nil {
		return New()
	}
	exp := time.Unix(st.Expires, 0)
	if !now.Before(exp) {
		return New()
	}
	return Restore(id, st.Values, exp)
}
