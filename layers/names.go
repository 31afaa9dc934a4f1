package layers

import "fmt"

// MaxNameLength is the bound on channel and group names: a name must be shorter than this.
const MaxNameLength = 100

// ValidateChannelName reports whether name is a valid channel name (see Layer). The error
// wraps ErrInvalidName and says what is wrong.
func ValidateChannelName(name string) error {
	if len(name) == 0 || len(name) >= MaxNameLength {
		return fmt.Errorf("%w: channel name %q must be 1 to %d characters", ErrInvalidName, name, MaxNameLength-1)
	}
	bang := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case nameByte(c):
		case c == '!' && !bang && i > 0:
			bang = true
		default:
			return fmt.Errorf("%w: channel name %q: character %q not allowed (letters, digits, '-', '_', '.', and one '!' after the first character)", ErrInvalidName, name, c)
		}
	}
	return nil
}

// ValidateGroupName reports whether name is a valid group name (see Layer). The error wraps
// ErrInvalidName and says what is wrong.
func ValidateGroupName(name string) error {
	if len(name) == 0 || len(name) >= MaxNameLength {
		return fmt.Errorf("%w: group name %q must be 1 to %d characters", ErrInvalidName, name, MaxNameLength-1)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return fmt.Errorf("%w: group name %q: character %q not allowed (letters, digits, '-', '_', '.')", ErrInvalidName, name, name[i])
		}
	}
	return nil
}

// ValidateMembership reports whether group and channel are valid names for a group add or
// discard: the error of ValidateGroupName or else of ValidateChannelName.
func ValidateMembership(group, channel string) error {
	if err := ValidateGroupName(group); err != nil {
		return err
	}
	return ValidateChannelName(channel)
}

// IsProcessSpecific reports whether channel is process-specific (contains "!").
func IsProcessSpecific(channel string) bool {
	_, _, ok := SplitProcessSpecific(channel)
	return ok
}

// SplitProcessSpecific splits a process-specific channel name into its inbox name (up to and
// including the "!") and the local part after it. ok is false for a normal channel.
func SplitProcessSpecific(channel string) (inbox, local string, ok bool) {
	for i := 0; i < len(channel); i++ {
		if channel[i] == '!' {
			return channel[:i+1], channel[i+1:], true
		}
	}
	return "", "", false
}

// nameByte reports whether c is allowed anywhere in a channel or group name. Python's \w in
// the local part of a channel name also admits Unicode letters; ASCII is what every layer
// produces, and what this package accepts.
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}
