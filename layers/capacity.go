package layers

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CapacityRule gives the channels whose names match Pattern a capacity of their own.
//
// Pattern is a shell-style glob with the syntax of Python's fnmatch: "*" matches any run of
// characters, "?" one character, "[abc]" / "[a-z]" one character of a set and "[!abc]" one
// character outside it (there is no escape character; "[" with no closing "]" is literal).
// The glob must match the whole channel name; matching is case-sensitive.
//
// A Pattern that starts with "re:" is a regular expression (Go RE2 syntax) instead, matched at
// the start of the name as Python's re.match does: "re:^http\.response!" and
// "re:http\.response!" are the same rule; add "$" to match the whole name.
//
// This is what Django's channel_capacity setting holds, with "re:" standing for a compiled
// re.Pattern key.
type CapacityRule struct {
	Pattern  string
	Capacity int
}

// ParseCapacities parses a capacity specification of the form "pattern:capacity,..." (the
// channel_capacity parameter of a layer URL), e.g.
// "http.request:200,http.response!*:10,re:websocket\.send!.+:20". Each capacity follows the
// last ":" of its entry. Entries are separated by ","; a "," inside a regular expression (as
// in "re:a{1,3}:5") is kept because the part before it does not end in ":capacity". Spaces
// around entries are ignored. The rules keep their order, and every pattern is checked.
func ParseCapacities(spec string) ([]CapacityRule, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	entries, err := splitEntries(spec, "capacity", "pattern:capacity", func(entry string) bool {
		colon := strings.LastIndexByte(entry, ':')
		return colon >= 0 && isDigits(entry[colon+1:])
	})
	if err != nil {
		return nil, err
	}
	var rules []CapacityRule
	for _, entry := range entries {
		colon := strings.LastIndexByte(entry, ':')
		pattern := entry[:colon]
		n, err := strconv.Atoi(entry[colon+1:])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("layers: capacity entry %q: capacity must be a positive integer", entry)
		}
		r := CapacityRule{Pattern: pattern, Capacity: n}
		if _, err := compileCapacityRule(r); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// splitEntries splits a comma-separated list of rules whose patterns may hold commas (a
// regular expression's "{1,3}"): a piece that is not a complete entry by itself (complete
// reports false) is joined to the next one. Spaces around entries are dropped. what names
// the list in errors ("capacity", "history") and want is an entry's form.
func splitEntries(spec, what, want string, complete func(entry string) bool) ([]string, error) {
	var entries []string
	pieces := strings.Split(spec, ",")
	cur := ""
	for i, p := range pieces {
		if i > 0 && cur != "" {
			cur += ","
		}
		cur += p
		entry := strings.TrimSpace(cur)
		if !complete(entry) {
			if i == len(pieces)-1 {
				return nil, fmt.Errorf("layers: %s entry %q: want %s", what, entry, want)
			}
			if entry == "" {
				return nil, fmt.Errorf("layers: %s specification %q has an empty entry", what, spec)
			}
			continue
		}
		cur = ""
		entries = append(entries, entry)
	}
	return entries, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Capacities maps channel names to capacities: the first rule whose pattern matches a name
// gives its capacity, and names no rule matches get the default. It is compiled once and safe
// for concurrent use; a nil *Capacities gives DefaultCapacity to every name.
type Capacities struct {
	def   int
	rules []capacityMatcher
}

// CompileCapacities compiles rules (in order: the first match wins) with defaultCapacity for
// the names no rule matches (DefaultCapacity when defaultCapacity <= 0). It returns an error
// naming the rule for a bad pattern or a capacity below 1.
func CompileCapacities(defaultCapacity int, rules []CapacityRule) (*Capacities, error) {
	if defaultCapacity <= 0 {
		defaultCapacity = DefaultCapacity
	}
	c := &Capacities{def: defaultCapacity, rules: make([]capacityMatcher, 0, len(rules))}
	for _, r := range rules {
		m, err := compileCapacityRule(r)
		if err != nil {
			return nil, err
		}
		c.rules = append(c.rules, m)
	}
	return c, nil
}

// Capacity returns the capacity of the channel called name.
func (c *Capacities) Capacity(name string) int {
	if c == nil {
		return DefaultCapacity
	}
	for i := range c.rules {
		if c.rules[i].match(name) {
			return c.rules[i].capacity
		}
	}
	return c.def
}

// Default returns the capacity of names that no rule matches.
func (c *Capacities) Default() int {
	if c == nil {
		return DefaultCapacity
	}
	return c.def
}

// MatchCapacityPattern reports whether a single capacity pattern (glob, or "re:" regular expression, as in
// CapacityRule) matches name. It compiles the pattern on every call; use Capacities to match
// many names.
func MatchCapacityPattern(pattern, name string) (bool, error) {
	m, err := compileCapacityRule(CapacityRule{Pattern: pattern, Capacity: 1})
	if err != nil {
		return false, err
	}
	return m.match(name), nil
}

// capacityMatcher is one compiled rule. Globs without "?" or "[" take a fast path (equality,
// prefix, suffix or substring); other globs run a small backtracking matcher; "re:" rules use
// regexp.
type capacityMatcher struct {
	capacity int
	kind     matchKind
	lit      string // exact, prefix, suffix, contains
	glob     []globToken
	re       *regexp.Regexp
}

type matchKind uint8

const (
	matchExact matchKind = iota
	matchPrefix
	matchSuffix
	matchContains
	matchAll
	matchGlob
	matchRegexp
)

func compileCapacityRule(r CapacityRule) (capacityMatcher, error) {
	if r.Capacity <= 0 {
		return capacityMatcher{}, fmt.Errorf("layers: capacity rule %q: capacity %d must be at least 1", r.Pattern, r.Capacity)
	}
	if r.Pattern == "" {
		return capacityMatcher{}, fmt.Errorf("layers: capacity rule with capacity %d has an empty pattern", r.Capacity)
	}
	m := capacityMatcher{capacity: r.Capacity}
	if expr, ok := strings.CutPrefix(r.Pattern, "re:"); ok {
		re, err := regexp.Compile(`^(?:` + expr + `)`)
		if err != nil {
			return capacityMatcher{}, fmt.Errorf("layers: capacity rule %q: bad regular expression: %w", r.Pattern, err)
		}
		m.kind, m.re = matchRegexp, re
		return m, nil
	}
	m.glob = compileGlob(r.Pattern)
	m.kind = matchGlob
	// Fast paths for the common shapes: "lit", "lit*", "*lit", "*lit*", "*".
	var shape []byte
	var lits []string
	for _, t := range m.glob {
		switch t.kind {
		case globLiteral:
			shape = append(shape, 'L')
			lits = append(lits, t.lit)
		case globStar:
			shape = append(shape, '*')
		default:
			shape = append(shape, '?')
		}
	}
	switch string(shape) {
	case "L":
		m.kind, m.lit = matchExact, lits[0]
	case "L*":
		m.kind, m.lit = matchPrefix, lits[0]
	case "*L":
		m.kind, m.lit = matchSuffix, lits[0]
	case "*L*":
		m.kind, m.lit = matchContains, lits[0]
	case "*":
		m.kind = matchAll
	}
	return m, nil
}

func (m *capacityMatcher) match(name string) bool {
	switch m.kind {
	case matchExact:
		return name == m.lit
	case matchPrefix:
		return strings.HasPrefix(name, m.lit)
	case matchSuffix:
		return strings.HasSuffix(name, m.lit)
	case matchContains:
		return strings.Contains(name, m.lit)
	case matchAll:
		return true
	case matchRegexp:
		return m.re.MatchString(name)
	}
	return matchGlobTokens(m.glob, name)
}

type globKind uint8

const (
	globLiteral globKind = iota // lit, consumes len(lit) bytes
	globAny                     // "?": one character
	globClass                   // "[...]": one character in (or, negated, outside) ranges
	globStar                    // "*": any run of characters
)

type globToken struct {
	kind   globKind
	lit    string
	neg    bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

// compileGlob turns an fnmatch pattern into tokens, following Python's fnmatch.translate:
// consecutive stars collapse; "[" starts a set only when a closing "]" follows (a "]" right
// after "[" or "[!" belongs to the set); "!" first negates; "x-y" is a range (empty when
// x > y, and dropped); a "-" first or last is literal; "\" is an ordinary character.
func compileGlob(p string) []globToken {
	var toks []globToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, globToken{kind: globLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); {
		c := p[i]
		switch c {
		case '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != globStar {
				toks = append(toks, globToken{kind: globStar})
			}
			i++
		case '?':
			flush()
			toks = append(toks, globToken{kind: globAny})
			i++
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				lit.WriteByte('[')
				i++
				continue
			}
			flush()
			body := p[i+1 : j]
			t := globToken{kind: globClass}
			if strings.HasPrefix(body, "!") {
				t.neg = true
				body = body[1:]
			}
			rs := []rune(body)
			for k := 0; k < len(rs); {
				if k+2 < len(rs) && rs[k+1] == '-' {
					if rs[k] <= rs[k+2] {
						t.ranges = append(t.ranges, runeRange{rs[k], rs[k+2]})
					}
					k += 3
					continue
				}
				t.ranges = append(t.ranges, runeRange{rs[k], rs[k]})
				k++
			}
			toks = append(toks, t)
			i = j + 1
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return toks
}

func (t *globToken) matchRune(r rune) bool {
	if t.kind == globAny {
		return true
	}
	in := false
	for _, rr := range t.ranges {
		if r >= rr.lo && r <= rr.hi {
			in = true
			break
		}
	}
	return in != t.neg
}

// matchGlobTokens matches the whole of s. Every token but "*" has a fixed width, so one
// backtracking point (the last star) is enough: the classic wildcard algorithm, O(len(s) ×
// len(tokens)) at worst, no allocation.
func matchGlobTokens(toks []globToken, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case globStar:
				starTi, starSi = ti, si
				ti++
				continue
			case globLiteral:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			default:
				if si < len(s) {
					r, size := utf8.DecodeRuneInString(s[si:])
					if t.matchRune(r) {
						si += size
						ti++
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch (or tokens used up before the end of s): let the last star take one more
		// character, if there is one.
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSi:])
		starSi += size
		ti, si = starTi+1, starSi
	}
}
