package layers

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseHistoryRules parses a history specification of the form "pattern:size:ttl,..." (the
// history parameter of a layer URL), e.g. "chat.*:100:3600,ticker.*:0:30s". size is a number
// of messages (0: bounded by ttl only) and ttl a number of seconds (decimals allowed) or a Go
// duration such as "90s" (0: bounded by size only). Each entry is read from the right, so a
// pattern may hold ":" ("re:chat\..*:50:0"); a "," inside a regular expression is kept as in
// ParseCapacities. The rules keep their order and are checked as CompileHistoryRules does.
func ParseHistoryRules(spec string) ([]HistoryRule, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	entries, err := splitEntries(spec, "history", "pattern:size:ttl (ttl in seconds or a duration such as 30s)", func(entry string) bool {
		_, ok := splitHistoryEntry(entry)
		return ok
	})
	if err != nil {
		return nil, err
	}
	var rules []HistoryRule
	for _, entry := range entries {
		r, _ := splitHistoryEntry(entry)
		if _, err := compileHistoryRule(r); err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// splitHistoryEntry reads "pattern:size:ttl" from the right; ok is false when the entry does
// not end in ":size:ttl".
func splitHistoryEntry(entry string) (HistoryRule, bool) {
	c2 := strings.LastIndexByte(entry, ':')
	if c2 < 0 {
		return HistoryRule{}, false
	}
	c1 := strings.LastIndexByte(entry[:c2], ':')
	if c1 < 0 || !isDigits(entry[c1+1:c2]) {
		return HistoryRule{}, false
	}
	size, err := strconv.Atoi(entry[c1+1 : c2])
	if err != nil {
		return HistoryRule{}, false
	}
	ttl, err := parseHistoryTTL(entry[c2+1:])
	if err != nil {
		return HistoryRule{}, false
	}
	return HistoryRule{Pattern: entry[:c1], Size: size, TTL: ttl}, true
}

// parseHistoryTTL reads a TTL: "0", seconds ("60", "0.5") or a Go duration ("500ms").
func parseHistoryTTL(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return ParseSeconds(s)
}

// HistoryRules maps group names to their history rule: the first rule whose pattern matches
// a group's name applies, and groups no rule matches keep no history. It is compiled once and
// safe for concurrent use; a nil *HistoryRules keeps history for no group.
type HistoryRules struct {
	rules []historyMatcher
}

type historyMatcher struct {
	rule HistoryRule
	m    capacityMatcher
}

// CompileHistoryRules compiles rules (in order: the first match wins). It returns an error
// naming the rule for an empty or bad pattern, a negative Size or TTL, a Size above
// MaxHistoryLimit, or a rule with neither a Size nor a TTL. It returns nil for no rules.
func CompileHistoryRules(rules []HistoryRule) (*HistoryRules, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	h := &HistoryRules{rules: make([]historyMatcher, 0, len(rules))}
	for _, r := range rules {
		m, err := compileHistoryRule(r)
		if err != nil {
			return nil, err
		}
		h.rules = append(h.rules, historyMatcher{rule: r, m: m})
	}
	return h, nil
}

func compileHistoryRule(r HistoryRule) (capacityMatcher, error) {
	switch {
	case r.Pattern == "":
		return capacityMatcher{}, fmt.Errorf("layers: history rule with an empty pattern")
	case r.Size < 0 || r.Size > MaxHistoryLimit:
		return capacityMatcher{}, fmt.Errorf("layers: history rule %q: size %d is not within 0..%d", r.Pattern, r.Size, MaxHistoryLimit)
	case r.TTL < 0:
		return capacityMatcher{}, fmt.Errorf("layers: history rule %q: negative ttl %v", r.Pattern, r.TTL)
	case r.Size == 0 && r.TTL == 0:
		return capacityMatcher{}, fmt.Errorf("layers: history rule %q: set a size, a ttl or both", r.Pattern)
	}
	m, err := compileCapacityRule(CapacityRule{Pattern: r.Pattern, Capacity: 1})
	if err != nil {
		return capacityMatcher{}, fmt.Errorf("layers: history rule %q: %w", r.Pattern, err)
	}
	return m, nil
}

// Match returns the rule for group, with Size set to MaxHistoryLimit when the rule has none,
// and false when no rule matches (the group keeps no history).
func (h *HistoryRules) Match(group string) (HistoryRule, bool) {
	if h == nil {
		return HistoryRule{}, false
	}
	for i := range h.rules {
		if h.rules[i].m.match(group) {
			r := h.rules[i].rule
			if r.Size == 0 {
				r.Size = MaxHistoryLimit
			}
			return r, true
		}
	}
	return HistoryRule{}, false
}

// Rules returns the rules as given (nil for none).
func (h *HistoryRules) Rules() []HistoryRule {
	if h == nil {
		return nil
	}
	out := make([]HistoryRule, len(h.rules))
	for i := range h.rules {
		out[i] = h.rules[i].rule
	}
	return out
}
