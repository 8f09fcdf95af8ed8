package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/attestfs"
	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/tee"
)

// Environment through which nacre run tells tools inside the shield the
// application identity (hex), for the claims of RA-TLS certificates.
const (
	envMeasurement = "NACRE_MEASUREMENT"
	envSigner      = "NACRE_SIGNER"
)

// teeFlags are the platform flags shared by commands that produce evidence.
type teeFlags struct {
	platform, tsmRoot, simKey string
	measurement, signer       string
	attestDir                 string // /dev/attestation of a shield (nacre ratls only)
}

func (f *teeFlags) register(cmd *cobra.Command, def string) {
	cmd.Flags().StringVar(&f.platform, "platform", def, "TEE platform: auto (configfs-tsm provider, else none), tdx, snp, sim (simulated, INSECURE) or none")
	cmd.Flags().StringVar(&f.tsmRoot, "tsm-root", tee.DefaultTSMRoot, "configfs-tsm report directory")
	cmd.Flags().StringVar(&f.simKey, "sim-key", "", "simulated TEE key (default ~/.config/nacre/sim-tee-key.pem, created on first use)")
	cmd.Flags().StringVar(&f.measurement, "measurement", "", "application measurement, 64 hex digits (default $"+envMeasurement+")")
	cmd.Flags().StringVar(&f.signer, "signer", "", "application signer, 64 hex digits (default $"+envSigner+")")
}

func hex32(flag, val, env string) ([32]byte, error) {
	var out [32]byte
	if val == "" {
		val = os.Getenv(env)
	}
	if val == "" {
		return out, nil
	}
	b, err := hex.DecodeString(val)
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("--%s %q: want 64 hex digits", flag, val)
	}
	return [32]byte(b), nil
}

func (f *teeFlags) open() (tee.Platform, [32]byte, [32]byte, error) {
	m, err := hex32("measurement", f.measurement, envMeasurement)
	if err != nil {
		return nil, m, m, err
	}
	s, err := hex32("signer", f.signer, envSigner)
	if err != nil {
		return nil, m, s, err
	}
	p, err := tee.New(f.platform, tee.Options{
		TSM: &tee.TSM{Root: f.tsmRoot},
		Sim: tee.SimOptions{KeyPath: f.simKey, Measurement: m, Signer: s},
	})
	return p, m, s, err
}

// raTLSTime parses Gramine's RA_TLS_CERT_TIMESTAMP_* format YYYYMMDDhhmmss.
func raTLSTime(env string) (time.Time, error) {
	v := os.Getenv(env)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("20060102150405", v)
	if err != nil {
		return t, fmt.Errorf("%s=%q: want YYYYMMDDhhmmss", env, v)
	}
	return t, nil
}

func newRATLSCmd() *cobra.Command {
	var der bool
	var tf teeFlags
	cmd := &cobra.Command{
		Use:   "ratls [flags] CERT KEY [-- CMD ARGS...]",
		Short: "Write a fresh RA-TLS certificate and key, then exec a command (like gramine-ratls)",
		Long: `ratls creates a fresh ECDSA P-384 key and a self-signed RA-TLS certificate that
carries TEE evidence binding the key (in both of Gramine's extensions), writes them to
CERT and KEY (PEM, or DER with --der; the key file gets mode 0600), and then replaces
itself with CMD so that an unmodified TLS server can serve the certificate.

Inside a shield (nacre run, with ratls as libos.entrypoint) there is no
configfs-tsm and no simulator key: when /dev/attestation/quote exists and --platform
is not given, the evidence comes from there, as gramine-ratls does it (write the key
hash to user_report_data, read the quote). The shield binds the signed manifest's
measurement and signer itself, so --measurement and --signer are refused then, and
only the tagged-evidence extension is written (the legacy one would need evidence
over the bare key hash, which the shield never signs).

Outside a shield, --platform picks the TEE, and the application identity bound into
the certificate comes from --measurement and --signer, by default from
$NACRE_MEASUREMENT and $NACRE_SIGNER.

Validity follows Gramine's RA_TLS_CERT_TIMESTAMP_NOT_BEFORE / _NOT_AFTER
(YYYYMMDDhhmmss) when set. With --platform sim the evidence is simulated and proves
nothing (INSECURE, for tests).`,
		Example: `  # manifest: libos.entrypoint = "/usr/local/bin/nacre" (trusted), argv:
  nacre ratls /tmp/crt.pem /tmp/key.pem -- nginx -c /etc/nginx/ratls.conf
  nacre ratls --platform sim --der crt.der key.der`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := cmd.ArgsLenAtDash(); n >= 0 && n != 2 {
				return fmt.Errorf("want exactly CERT and KEY before --, got %d arguments", n)
			} else if n < 0 && len(args) > 2 {
				return fmt.Errorf("put the command after --: nacre ratls CERT KEY -- %s", args[2])
			}
			nb, err := raTLSTime("RA_TLS_CERT_TIMESTAMP_NOT_BEFORE")
			if err != nil {
				return err
			}
			na, err := raTLSTime("RA_TLS_CERT_TIMESTAMP_NOT_AFTER")
			if err != nil {
				return err
			}
			var c *ratls.Certificate
			var platform string
			if inShield(cmd, tf.attestDir) {
				if cmd.Flags().Changed("measurement") || cmd.Flags().Changed("signer") {
					return &exitError{code: 2, err: fmt.Errorf("--measurement/--signer: inside a shield (%s exists) the identity comes from the signed manifest; pass --platform to use a TEE directly", tf.attestDir)}
				}
				dir := tf.attestDir
				c, platform, err = devAttestationCertificate(func(ud [64]byte) (*tee.Evidence, error) { return devAttestationQuote(dir, ud) }, nb, na)
				if err != nil {
					return err
				}
			} else {
				p, m, s, err := tf.open()
				if err != nil {
					return err
				}
				platform = p.Name()
				c, err = ratls.CreateCertificate(context.Background(), ratls.CertOptions{Platform: p, Measurement: m, Signer: s, NotBefore: nb, NotAfter: na})
				if err != nil {
					return err
				}
			}
			if platform == tee.PlatformSim {
				fmt.Fprintln(os.Stderr, "nacre: warning: INSECURE: the certificate carries simulated TEE evidence, which proves nothing")
			}
			if err := writeRATLS(args[0], args[1], c, der); err != nil {
				return err
			}
			slog.Info("RA-TLS certificate written", "cert", args[0], "key", args[1], "platform", platform)
			if len(args) == 2 {
				return nil
			}
			path, err := exec.LookPath(args[2])
			if err != nil {
				return &exitError{code: 127, err: err}
			}
			err = syscall.Exec(path, args[2:], os.Environ())
			return &exitError{code: 126, err: fmt.Errorf("exec %s: %w", path, err)}
		},
	}
	cmd.Flags().BoolVarP(&der, "der", "D", false, "write DER instead of PEM (gramine-ratls -D)")
	tf.register(cmd, "auto")
	cmd.Flags().StringVar(&tf.attestDir, "attestation-dir", "/dev/attestation", "the shield's attestation directory, used for evidence when it has a quote and --platform is not given")
	return cmd
}

// inShield reports whether nacre ratls should take its evidence from the
// shield's /dev/attestation: the directory has a quote and the user did
// not choose a platform explicitly.
func inShield(cmd *cobra.Command, dir string) bool {
	if cmd.Flags().Changed("platform") || dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "quote"))
	return err == nil
}

func writeRATLS(certPath, keyPath string, c *ratls.Certificate, der bool) error {
	// SEC 1 key encoding, as mbedTLS writes it.
	keyDER, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		return err
	}
	certOut, keyOut := c.DER, keyDER
	if !der {
		certOut = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
		keyOut = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	if err := writeFileMode(keyPath, keyOut, 0o600); err != nil {
		return fmt.Errorf("writing RA-TLS key: %w", err)
	}
	if err := writeFileMode(certPath, certOut, 0o644); err != nil {
		return fmt.Errorf("writing RA-TLS certificate: %w", err)
	}
	return nil
}

// writeFileMode writes data with exactly mode (even over an existing file).
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func init() { addCommand(newRATLSCmd()) }

// devAttestationCertificate makes an RA-TLS certificate inside a shield,
// the way gramine-ratls does it inside an enclave: quote (devAttestationQuote)
// writes the new key's hash to user_report_data and reads the quote, a nacre quote
// (docs/spec/dev-attestation.md §4.1) whose claims bind the signed
// manifest's measurement and signer, the key hash and the time. The
// evidence and those claims go into the tagged-evidence extension exactly
// as ratls.CreateCertificate puts them there. There is no legacy extension:
// its report data would have to be Gramine's raw key hash, which the shield
// never signs without the claims.
func devAttestationCertificate(quote func(userData [64]byte) (*tee.Evidence, error), notBefore, notAfter time.Time) (*ratls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("RA-TLS certificate: generate P-384 key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, "", err
	}
	var userData [64]byte
	pkHash := sha256.Sum256(spki)
	copy(userData[:], pkHash[:])

	ev, err := quote(userData)
	if err != nil {
		return nil, "", err
	}
	if err := shieldPlatform(ev.Platform); err != nil {
		return nil, "", err
	}
	claims, err := tee.ParseClaims(ev.Claims)
	if err != nil {
		return nil, "", fmt.Errorf("RA-TLS certificate: quote: %w", err)
	}
	if claims.UserData != userData {
		// Another thread of this process wrote user_report_data in between.
		return nil, "", fmt.Errorf("RA-TLS certificate: the quote binds user data %x…, not this key's hash: user_report_data was overwritten concurrently; retry", claims.UserData[:8])
	}
	der, err := ratls.SignEvidence(key, ev, nil, notBefore, notAfter, time.Now(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	// The verifier's own parser must read back what was written.
	if _, err := ratls.ParseCertificate(der); err != nil {
		return nil, "", fmt.Errorf("RA-TLS certificate: internal error: %w", err)
	}
	return &ratls.Certificate{DER: der, Key: key}, ev.Platform, nil
}

// devAttestationQuote writes userData to dir/user_report_data (one write,
// as the file's semantics require) and reads the quote generated over it.
func devAttestationQuote(dir string, userData [64]byte) (*tee.Evidence, error) {
	urd := filepath.Join(dir, "user_report_data")
	f, err := os.OpenFile(urd, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %w", err)
	}
	_, err = f.Write(userData[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: writing %s: %w", urd, err)
	}
	q := filepath.Join(dir, "quote")
	raw, err := os.ReadFile(q)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: reading %s (is the shield's platform a TEE? nacre run --platform): %w", q, err)
	}
	if !bytes.HasPrefix(raw, []byte(attestfs.QuoteMagic)) {
		return nil, fmt.Errorf("RA-TLS certificate: %s is not a nacre quote (a raw quote binds no manifest identity); run the shield without raw quotes", q)
	}
	ev, err := attestfs.ParseQuote(raw)
	if err != nil {
		return nil, fmt.Errorf("RA-TLS certificate: %s: %w", q, err)
	}
	return ev, nil
}

// shieldPlatform accepts the platforms a shield's nacre quote can come from
// (SGX evidence never does: nacre does not run in enclaves).
func shieldPlatform(p string) error {
	switch p {
	case tee.PlatformTDX, tee.PlatformSNP, tee.PlatformSim:
		return nil
	}
	return fmt.Errorf("RA-TLS certificate: no tagged-evidence format for a shield quote of platform %q", p)
}
