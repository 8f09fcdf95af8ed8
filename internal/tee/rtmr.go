package tee

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultTDXMeasurementsDir is where Linux 6.16+ exposes the TDX
// measurement registers (the tsm-mr ABI): writing a 48-byte SHA-384 digest
// to rtmrN:sha384 extends RTMR N.
const DefaultTDXMeasurementsDir = "/sys/class/misc/tdx_guest/measurements"

// AppRTMR is the RTMR nacre extends with the application's identity. RTMR 0-2
// are used by firmware, boot loader and kernel; 3 is left to applications.
const AppRTMR = 3

// ErrNoRTMR: the kernel does not expose RTMR extension (before 6.16 or not
// a TDX guest). The measurement is then bound through report data only.
var ErrNoRTMR = errors.New("TDX RTMR extension not available (needs Linux 6.16+ tdx_guest measurements in sysfs)")

// RTMREvent is the SHA-384 digest nacre extends into AppRTMR for an
// application: SHA-384("nacre-rtmr-v1\n" | measurement | signer).
func RTMREvent(measurement, signer [32]byte) [48]byte {
	b := append([]byte("nacre-rtmr-v1\n"), measurement[:]...)
	return sha512.Sum384(append(b, signer[:]...))
}

// ExtendRTMR extends RTMR index with digest through dir (empty: the default
// sysfs directory).
func ExtendRTMR(dir string, index int, digest [48]byte) error {
	if index < 0 || index > 3 {
		return fmt.Errorf("RTMR index %d out of range 0..3", index)
	}
	if dir == "" {
		dir = DefaultTDXMeasurementsDir
	}
	p := filepath.Join(dir, fmt.Sprintf("rtmr%d:sha384", index))
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s missing", ErrNoRTMR, p)
		}
		return fmt.Errorf("extend RTMR %d: %w", index, err)
	}
	_, err = f.Write(digest[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extend RTMR %d via %s: %w", index, p, err)
	}
	return nil
}
