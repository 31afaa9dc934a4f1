package layers

import "time"

// Defaults of every layer: Django's, which channels_redis shares. The Redis layers add their
// own (key prefix, inbox capacity, heartbeat) in package redislayer.
const (
	// DefaultCapacity is the number of messages a channel holds when no capacity is
	// configured for it.
	DefaultCapacity = 100
	// DefaultExpiry is how long a message waits on a channel before it is dropped unread.
	DefaultExpiry = 60 * time.Second
	// DefaultGroupExpiry is how long a channel stays in a group after its last GroupAdd.
	DefaultGroupExpiry = 86400 * time.Second
)
