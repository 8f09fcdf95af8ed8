package ratls

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrReplay: the same RA-TLS key was presented before.
var ErrReplay = errors.New("RA-TLS certificate key already used (replayed certificate)")

// ReplayCache remembers the public-key hashes of accepted certificates for
// Window, so that a certificate (and its key) can be used only once. Window
// must be at least the policy's MaxAge plus skew: older evidence is refused
// by the freshness check, so forgetting it then is safe.
type ReplayCache struct {
	Window time.Duration
	// Max bounds memory; when full of unexpired entries, new keys are
	// refused (fail closed). Default 100000.
	Max int

	mu   sync.Mutex
	seen map[[32]byte]time.Time // key -> expiry
}

// Use records key at now; it fails if key is already recorded.
func (c *ReplayCache) Use(key [32]byte, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[[32]byte]time.Time{}
	}
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return fmt.Errorf("%w (first seen less than %s ago)", ErrReplay, c.Window)
	}
	max := c.Max
	if max <= 0 {
		max = 100000
	}
	if len(c.seen) >= max {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= max {
			return fmt.Errorf("replay cache full (%d keys within %s); refusing new certificates until entries expire", max, c.Window)
		}
	}
	c.seen[key] = now.Add(c.Window)
	return nil
}

// Len is the number of remembered keys.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
