package shield

import (
	"fmt"
	"io"
	"strings"
)

// Banner writes Gramine-style startup warnings: an unsigned manifest, direct
// mode without a TEE, and every insecure setting in use. It writes nothing for
// a signed manifest without insecure settings.
func Banner(w io.Writer, l *Loaded, platform string) {
	var lines []string
	if l.Signed == nil {
		lines = append(lines, "the manifest "+l.Path+" is NOT SIGNED: nothing binds what runs to a measurement")
	}
	switch platform {
	case "", "none":
		lines = append(lines, "no TEE (direct mode): the host can read and change everything; for development only")
	case "sim":
		lines = append(lines, "SIMULATED TEE (--platform sim): its evidence proves nothing; for development and tests only")
	}
	for _, s := range l.Manifest.InsecureSettings() {
		lines = append(lines, "insecure setting: "+s)
	}
	if len(lines) == 0 {
		return
	}
	bar := strings.Repeat("-", 78)
	fmt.Fprintln(w, bar)
	fmt.Fprintln(w, "nacre: WARNING: this shield is running INSECURELY")
	for _, s := range lines {
		fmt.Fprintln(w, "  - "+s)
	}
	fmt.Fprintln(w, bar)
}
