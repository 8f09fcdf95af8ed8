package trustedfs

// NewSetOwned is NewSet for a caller that hands entries over and never uses
// the map again: the set keeps it instead of copying it (nacre run's
// trusted set of 7,900 entries is built on its start-up's critical path).
func NewSetOwned(entries map[string][32]byte) *Set {
	return &Set{files: entries}
}
