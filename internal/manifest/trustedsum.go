package manifest

// TrustedSums returns a lookup of the whole-file SHA-256 of each trusted
// file by host path (as HostPath gives it), and the number of distinct
// paths, without building a map: the table the fast parse built is reused
// (pathTable). ok is false when there is none (a manifest not in nacre
// sign's canonical form, an entry whose path is not clean and absolute, a
// list ExpandTrustedFiles replaced); build the map from TrustedFiles then.
// The lookup is safe for concurrent use while TrustedFiles is not changed;
// it finds nothing for an entry whose sha256 is not 64 hex digits.
func (m *Manifest) TrustedSums() (lookup func(hostPath string) ([32]byte, bool), n int, ok bool) {
	t := m.trustedTable
	if t == nil {
		return nil, 0, false
	}
	files := m.TrustedFiles
	return func(hostPath string) ([32]byte, bool) {
		j, ok := t.find(files, hostPath)
		if !ok {
			return [32]byte{}, false
		}
		return decodeSum(files[j].SHA256)
	}, t.n, true
}

// decodeSum decodes 64 hex digits (either case) without allocating.
func decodeSum(s string) (sum [32]byte, ok bool) {
	if len(s) != 2*len(sum) {
		return sum, false
	}
	for i := range sum {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return [32]byte{}, false
		}
		sum[i] = hi<<4 | lo
	}
	return sum, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
