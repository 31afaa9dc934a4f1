package layers

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var fnmatchNames = []string{"http.request", "http.response", "a.send", "xmidy", "abc", "aXc", "ax", "dx", "cat", "]x", "-x", "a[", "[!]", "!x", "zx", "a-c-e", "xyz", "xaaaaab", "xaaaab", "aab", "\\x", "a\\*b", "a\\xb", "^", "h.tp.request!abc", "websocket.send!abc", "websocket.send", "é", "éx", "", "b-x", "--x"}
var fnmatchCases = map[string][]string{ // computed with Python's fnmatch.translate
	"http.request":     {"http.request"},
	"http.*":           {"http.request", "http.response"},
	"*.send":           {"a.send", "websocket.send"},
	"*mid*":            {"xmidy"},
	"*":                {"http.request", "http.response", "a.send", "xmidy", "abc", "aXc", "ax", "dx", "cat", "]x", "-x", "a[", "[!]", "!x", "zx", "a-c-e", "xyz", "xaaaaab", "xaaaab", "aab", "\\x", "a\\*b", "a\\xb", "^", "h.tp.request!abc", "websocket.send!abc", "websocket.send", "é", "éx", "", "b-x", "--x"},
	"a?c":              {"abc", "aXc"},
	"[abc]x":           {"ax"},
	"[!abc]x":          {"dx", "]x", "-x", "!x", "zx", "\\x", "éx"},
	"[a-c]*":           {"a.send", "abc", "aXc", "ax", "cat", "a[", "a-c-e", "aab", "a\\*b", "a\\xb", "b-x"},
	"[z-a]x":           {},
	"[!z-a]x":          {"ax", "dx", "]x", "-x", "!x", "zx", "\\x", "éx"},
	"[]a]x":            {"ax", "]x"},
	"[!]a]x":           {"dx", "-x", "!x", "zx", "\\x", "éx"},
	"[a-]x":            {"ax", "-x"},
	"[-a]x":            {"ax", "-x"},
	"a[":               {"a["},
	"[!]":              {"[!]"},
	"a-c-e":            {"a-c-e"},
	"[a-c-e]":          {},
	"x*y*z":            {"xyz"},
	"*a*a*a*b":         {"xaaaaab", "xaaaab"},
	"[\\]x":            {"\\x"},
	"a\\*b":            {"a\\*b", "a\\xb"},
	"[^a]":             {"^"},
	"h?tp.re*st!*":     {"h.tp.request!abc"},
	"websocket.send!*": {"websocket.send!abc"},
	"?":                {"^", "é"},
	"??*":              {"http.request", "http.response", "a.send", "xmidy", "abc", "aXc", "ax", "dx", "cat", "]x", "-x", "a[", "[!]", "!x", "zx", "a-c-e", "xyz", "xaaaaab", "xaaaab", "aab", "\\x", "a\\*b", "a\\xb", "h.tp.request!abc", "websocket.send!abc", "websocket.send", "éx", "b-x", "--x"},
	"*?x":              {"ax", "dx", "]x", "-x", "!x", "zx", "\\x", "éx", "b-x", "--x"},
	"[a-c-e]-x":        {"b-x", "--x"},
}

func TestCapacityGlobMatchesPythonFnmatch(t *testing.T) {
	for pattern, want := range fnmatchCases {
		c, err := CompileCapacities(1, []CapacityRule{{Pattern: pattern, Capacity: 7}})
		if err != nil {
			t.Fatalf("compile %q: %v", pattern, err)
		}
		for _, name := range fnmatchNames {
			got := c.Capacity(name) == 7
			if got != slices.Contains(want, name) {
				t.Errorf("pattern %q, name %q: match = %v, Python says %v", pattern, name, got, !got)
			}
			if m, err := MatchCapacityPattern(pattern, name); err != nil || m != got {
				t.Errorf("MatchCapacityPattern(%q, %q) = %v, %v", pattern, name, m, err)
			}
		}
	}
}

func TestCapacityRegexpMatchesAtStart(t *testing.T) {
	c, err := CompileCapacities(0, []CapacityRule{
		{Pattern: `re:websocket\.send!.+`, Capacity: 20},
		{Pattern: `re:^http\.(request|response)$`, Capacity: 30},
		{Pattern: `re:bg`, Capacity: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]int{
		"websocket.send!abc": 20,
		"websocket.send!":    DefaultCapacity,
		"xwebsocket.send!a":  DefaultCapacity, // anchored at the start, as re.match
		"http.request":       30,
		"http.requests":      DefaultCapacity,
		"bg-tasks":           40, // re.match matches a prefix
		"tasks-bg":           DefaultCapacity,
	}
	for name, want := range cases {
		if got := c.Capacity(name); got != want {
			t.Errorf("Capacity(%q) = %d, want %d", name, got, want)
		}
	}
}

func TestCapacityFirstRuleWinsAndDefault(t *testing.T) {
	c, err := CompileCapacities(5, []CapacityRule{{"http.*", 1}, {"http.request", 2}, {"*", 3}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Capacity("http.request") != 1 || c.Capacity("other") != 3 || c.Default() != 5 {
		t.Fatalf("got %d %d %d", c.Capacity("http.request"), c.Capacity("other"), c.Default())
	}
	var nilCaps *Capacities
	if nilCaps.Capacity("x") != DefaultCapacity || nilCaps.Default() != DefaultCapacity {
		t.Fatal("nil Capacities must give the default")
	}
	if d, _ := CompileCapacities(0, nil); d.Capacity("x") != DefaultCapacity {
		t.Fatal("default capacity not applied")
	}
}

func TestCompileCapacitiesErrors(t *testing.T) {
	for _, r := range []CapacityRule{{"", 3}, {"a", 0}, {"a", -1}, {"re:(", 3}} {
		if _, err := CompileCapacities(1, []CapacityRule{r}); err == nil {
			t.Errorf("rule %+v: no error", r)
		}
	}
	_, err := CompileCapacities(1, []CapacityRule{{"re:(", 3}})
	if !strings.Contains(err.Error(), `"re:("`) {
		t.Errorf("error does not name the rule: %v", err)
	}
}

func TestParseCapacities(t *testing.T) {
	got, err := ParseCapacities(` http.request:200, http.response!*:10,re:websocket\.send!.+:20,re:a{1,3}:5,re:x:y:7`)
	if err != nil {
		t.Fatal(err)
	}
	want := []CapacityRule{
		{"http.request", 200}, {"http.response!*", 10}, {`re:websocket\.send!.+`, 20},
		{"re:a{1,3}", 5}, {"re:x:y", 7},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if r, err := ParseCapacities("  "); err != nil || r != nil {
		t.Fatalf("empty spec: %v %v", r, err)
	}
	for _, bad := range []string{"abc", "a:0", "a:-1", "a:x", ":5", "a:1,,b:2", "re:(:3", "a:1,b", "a:99999999999999999999"} {
		if _, err := ParseCapacities(bad); err == nil {
			t.Errorf("ParseCapacities(%q): no error", bad)
		}
	}
}

func TestParseCapacitiesErrorIsClear(t *testing.T) {
	_, err := ParseCapacities("a:1,nocolon")
	if err == nil || !strings.Contains(err.Error(), "nocolon") || !strings.Contains(err.Error(), "pattern:capacity") {
		t.Fatalf("unclear error: %v", err)
	}
	if errors.Is(err, ErrInvalidName) {
		t.Fatal("not a name error")
	}
}

func BenchmarkCapacityMatch(b *testing.B) {
	c, _ := CompileCapacities(0, []CapacityRule{
		{"http.request", 200}, {"http.response!*", 10}, {"*.send!*", 20}, {"bg-[a-c]?*", 30}, {`re:^ws\.\d+$`, 40},
	})
	names := []string{"http.request", "http.response!abc", "websocket.send!xyz", "bg-b12", "ws.42", "specific.0123456789abcdef!0123456789abcdef01234567"}
	for _, n := range names {
		b.Run(n[:min(len(n), 16)], func(b *testing.B) {
			for b.Loop() {
				c.Capacity(n)
			}
		})
	}
}
