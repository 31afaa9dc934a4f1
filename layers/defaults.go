package layers

import "time"

// Defaults of the in-memory layer (Django's).
const (
	// DefaultExpiry is how long a message waits on a channel before it is dropped unread.
	DefaultExpiry = 60 * time.Second
	// DefaultGroupExpiry is how long a channel stays in a group after its last GroupAdd.
	DefaultGroupExpiry = 86400 * time.Second
)
