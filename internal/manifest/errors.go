package manifest

import (
	"fmt"
	"strings"
)

// KeyError reports a problem with one manifest key: an unknown or removed
// key, a value of the wrong type, or a bad value.
type KeyError struct {
	File    string // manifest file name as given to Parse
	Line    int    // 1-based line of the key, 0 if unknown (e.g. a missing key)
	Key     string // full dotted key, array elements as key[i]
	Msg     string // what is wrong and what to do
	Suggest string // closest valid key for unknown keys, or ""
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	fmt.Fprintf(&b, ": %s: %s", e.Key, e.Msg)
	if e.Suggest != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", e.Suggest)
	}
	return b.String()
}

// SyntaxError is a TOML syntax error (including duplicate keys).
type SyntaxError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: TOML syntax error: %s", e.File, e.Line, e.Column, e.Msg)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// closest returns the candidate nearest to key, or "" when none is close
// enough to be a plausible typo (more than a third of the key changed).
func closest(key string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(key, c)
		if bestD < 0 || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len(key)/3) {
		return ""
	}
	return best
}
