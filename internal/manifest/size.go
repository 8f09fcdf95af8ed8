package manifest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a Gramine size string: a decimal or 0x-prefixed hex number
// with an optional K, M or G suffix (KiB, MiB, GiB; either case), e.g. "256K",
// "1G", "0x1000".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("size %q is empty: use a number with an optional K, M or G suffix, e.g. \"256M\"", s)
	}
	shift := 0
	switch t[len(t)-1] {
	case 'K', 'k':
		shift = 10
	case 'M', 'm':
		shift = 20
	case 'G', 'g':
		shift = 30
	}
	if shift > 0 {
		t = t[:len(t)-1]
	}
	base := 10
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		base, t = 16, t[2:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("size %q is not a number with an optional K, M or G suffix (e.g. \"256M\")", s)
	}
	n, err := strconv.ParseUint(t, base, 63)
	if err != nil || n > uint64(math.MaxInt64>>shift) {
		return 0, fmt.Errorf("size %q is not a number with an optional K, M or G suffix (e.g. \"256M\") or is too large", s)
	}
	return int64(n << shift), nil
}
