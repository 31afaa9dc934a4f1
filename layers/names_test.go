package layers

import (
	"errors"
	"strings"
	"testing"
)

// The expectations follow Django's regexes, channel `^[a-zA-Z\d\-_.]+(\![\d\w\-_.]*)?$` and
// group `^[a-zA-Z\d\-_.]+$`, with names shorter than 100 characters. Two deliberate
// differences: Python's "$" also matches before a final "\n" (so Django accepts "abc\n"), and
// its \w admits non-ASCII letters after the "!"; this package rejects both.
func TestValidateChannelName(t *testing.T) {
	cases := map[string]bool{
		"a":                            true,
		"a.b-c_d":                      true,
		"Background-Tasks9":            true,
		"a!":                           true, // an inbox name: empty local part is allowed by the regex
		"a!b":                          true,
		"a!.-_":                        true,
		"specific.abc!def":             true,
		"!a":                           false,
		"!":                            false,
		"a!b!c":                        false,
		"":                             false,
		"a b":                          false,
		"a/b":                          false,
		"a!b/c":                        false,
		"é":                            false,
		"a!é":                          false, // Django accepts (\w is Unicode); ASCII only here
		"abc\n":                        false, // Django accepts ($ before a final newline)
		"a:b":                          false,
		strings.Repeat("a", 99):        true,
		strings.Repeat("a", 100):       false,
		"a!" + strings.Repeat("b", 97): true,
		"a!" + strings.Repeat("b", 98): false,
	}
	for name, valid := range cases {
		err := ValidateChannelName(name)
		if (err == nil) != valid {
			t.Errorf("ValidateChannelName(%q) = %v, want valid=%v", name, err, valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateChannelName(%q): error %v does not wrap ErrInvalidName", name, err)
		}
	}
}

func TestValidateGroupName(t *testing.T) {
	cases := map[string]bool{
		"chat_lobby":             true,
		"a.b-c_d":                true,
		"a!":                     false,
		"a!b":                    false,
		"!a":                     false,
		"":                       false,
		"a b":                    false,
		"é":                      false,
		strings.Repeat("g", 99):  true,
		strings.Repeat("g", 100): false,
	}
	for name, valid := range cases {
		err := ValidateGroupName(name)
		if (err == nil) != valid {
			t.Errorf("ValidateGroupName(%q) = %v, want valid=%v", name, err, valid)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateGroupName(%q): error %v does not wrap ErrInvalidName", name, err)
		}
	}
}

func TestInvalidNameErrorSaysWhy(t *testing.T) {
	err := ValidateChannelName("a b")
	if err == nil || !strings.Contains(err.Error(), `' '`) {
		t.Fatalf("error does not name the character: %v", err)
	}
	err = ValidateGroupName(strings.Repeat("g", 100))
	if err == nil || !strings.Contains(err.Error(), "99") {
		t.Fatalf("error does not give the limit: %v", err)
	}
}

// TestValidateMembership: the group is checked first, then the channel; both must be valid.
func TestValidateMembership(t *testing.T) {
	if err := ValidateMembership("room_1", "specific.abc!def"); err != nil {
		t.Fatalf("valid names: %v", err)
	}
	if err := ValidateMembership("bad group", "bad channel"); !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "group name") {
		t.Fatalf("bad group: %v", err)
	}
	if err := ValidateMembership("room", "bad channel"); !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "channel name") {
		t.Fatalf("bad channel: %v", err)
	}
}

func TestSplitProcessSpecific(t *testing.T) {
	inbox, local, ok := SplitProcessSpecific("specific.abc!def")
	if !ok || inbox != "specific.abc!" || local != "def" {
		t.Fatalf("got %q %q %v", inbox, local, ok)
	}
	if _, _, ok := SplitProcessSpecific("background-tasks"); ok {
		t.Fatal("normal channel reported as process-specific")
	}
	if !IsProcessSpecific("a!") || IsProcessSpecific("a") {
		t.Fatal("IsProcessSpecific wrong")
	}
}
