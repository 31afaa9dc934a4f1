package layers

import (
	"fmt"
	"strconv"
	"time"
)

// ParseSeconds reads a positive duration as the layer URLs write it: a number of seconds
// ("60", "0.5"), as channels_redis takes them, or a Go duration ("500ms", "2m"). Every layer
// URL parameter that is a time (expiry, group_expiry, send_timeout, the TTL of a history
// rule) is read with it.
func ParseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("want a positive number of seconds")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive number of seconds or a duration such as 500ms")
	}
	return d, nil
}
