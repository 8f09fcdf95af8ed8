package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/attest"
	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/ratls"
	"github.com/nacre-tee/nacre/internal/secretprov"
	"github.com/nacre-tee/nacre/internal/shield"
	"github.com/nacre-tee/nacre/internal/verify"
)

// evidenceFlags configure verification of real (TDX, SNP, SGX) evidence.
type evidenceFlags struct {
	collateral   []string
	at           string
	policyFile   string
	allowMissing bool
}

func (f *evidenceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.collateral, "collateral", nil, "collateral for TDX/SGX quotes and SNP reports (repeatable; format auto-detected as in nacre verify)")
	fl.StringVar(&f.at, "at", "", "verify as if it were TIME (RFC 3339 or YYYY-MM-DD; for tests with recorded collateral)")
	fl.StringVar(&f.policyFile, "evidence-policy", "", "platform policy for real evidence: TCB statuses, MRTD/RTMRs, SNP measurement, MRENCLAVE... (nacre verify --policy format; default: strict, with Gramine's RA_TLS_* variables)")
	fl.BoolVar(&f.allowMissing, "allow-missing-collateral", false, "accept evidence whose TCB status cannot be computed for lack of collateral (only with allow_unknown_tcb_insecure in --evidence-policy)")
}

// evidenceVerifiers builds the verifiers of real (TDX, SNP, SGX) evidence
// for RA-TLS peers from f (platform name -> verifier), and the clock they
// use. Simulated evidence is handled by the secret-server policy's
// trusted_sim_keys.
func (f *evidenceFlags) evidenceVerifiers(logger *slog.Logger) (map[string]ratls.EvidenceVerifier, func() time.Time, error) {
	o := attest.Options{Logger: logger}
	if f.at != "" {
		at, err := parseAt(f.at)
		if err != nil {
			return nil, nil, err
		}
		o.Now = func() time.Time { return at }
	}
	var err error
	if o.Collateral, err = verify.LoadCollateral(f.collateral...); err != nil {
		return nil, nil, err
	}
	if f.policyFile != "" {
		if o.Policy, err = policy.Load(f.policyFile); err != nil {
			return nil, nil, err
		}
	}
	o.AllowMissingCollateral = f.allowMissing
	vs, err := attest.Verifiers(o)
	return vs, o.Now, err
}

func newSecretServerCmd() *cobra.Command {
	var policyPath, certPath, keyPath, listen, metricsListen, logFormat string
	var ef evidenceFlags
	cmd := &cobra.Command{
		Use:   "secret-server --policy FILE --cert CERT --key KEY [flags]",
		Short: "Serve secrets to attested applications (Gramine's secret-provisioning protocol)",
		Long: `secret-server listens for RA-TLS clients (nacre run with SECRET_PROVISION_* in
the manifest's loader.env, or Gramine's libsecret_prov_attest.so), verifies each
client's RA-TLS certificate during the TLS handshake, matches the attested platform,
measurement and signer against the policy's rules and sends the first matching rule's
secret using Gramine's wire format.

Real evidence is verified offline: TDX and SGX quotes against Intel collateral, SNP
reports against the VCEK/VLEK (from the client's certificate table or --collateral).
Which TCB statuses and platform measurements are acceptable comes from
--evidence-policy (the nacre verify --policy format), by default strict with Gramine's
RA_TLS_ALLOW_* / RA_TLS_MRENCLAVE... variables. For TDX and SNP clients the rules'
measurements and signers are nacre's manifest identity bound into the report data; for
SGX (Gramine) clients they are MRENCLAVE and MRSIGNER.

CERT/KEY is an ordinary X.509 server certificate; clients check it against
SECRET_PROVISION_CA_CHAIN_PATH and the host name they dialled. Every decision is
logged as one "audit" line (remote, platform, measurement, signer, verdict, check,
reason). --metrics-listen serves /healthz and /metrics (Prometheus text format).
SIGINT/SIGTERM stop accepting, let running connections finish and exit 0.

Policy file (TOML):

  max_age = "5m"                  # evidence must be younger than this
  # allow_untimestamped = true    # accept Gramine clients (no timestamp; replay cache only)
  # trusted_sim_keys = ["sim.pub.pem"]   # INSECURE: accept the simulated TEE

  [secrets.wrap-key]
  file = "wrap-key.bin"           # or hex = "...", base64 = "...", string = "..." (sent NUL-terminated)

  [[rule]]
  name = "prod"
  platforms = ["tdx", "snp"]
  measurements = ["<64 hex digits>"]
  signers = ["<64 hex digits>"]
  secret = "wrap-key"`,
		Example: `  nacre secret-server --policy policy.toml --cert server.crt --key server.key
  nacre secret-server --policy policy.toml --cert server.crt --key server.key \
      --listen 0.0.0.0:4433 --metrics-listen 127.0.0.1:9433 --log-format json
  nacre secret-server --policy policy.toml --cert server.crt --key server.key \
      --collateral tdx_collateral.json --evidence-policy tdx-platform.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo // audit lines are info: always shown unless --log-level says otherwise
			if logLevel != "" {
				l, err := parseLevel(logLevel)
				if err != nil {
					return err
				}
				level = l
			}
			var h slog.Handler
			switch logFormat {
			case "text":
				h = slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level, ReplaceAttr: shield.LevelNames})
			case "json":
				h = slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level, ReplaceAttr: shield.LevelNames})
			default:
				return fmt.Errorf("--log-format %q: use text or json", logFormat)
			}
			logger := slog.New(h)
			pol, err := secretprov.LoadPolicy(policyPath)
			if err != nil {
				return err
			}
			vs, now, err := ef.evidenceVerifiers(logger)
			if err != nil {
				return err
			}
			cert, err := tls.LoadX509KeyPair(certPath, keyPath)
			if err != nil {
				return fmt.Errorf("server certificate: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &secretprov.Server{Cert: cert, Policy: pol, Verifiers: vs, Now: now, Logger: logger}
			if metricsListen != "" {
				mln, err := net.Listen("tcp", metricsListen)
				if err != nil {
					ln.Close()
					return fmt.Errorf("--metrics-listen: %w", err)
				}
				hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
				go func() {
					if err := hs.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
						logger.Error("metrics server failed", "err", err)
					}
				}()
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					hs.Shutdown(sctx)
				}()
				logger.Info("metrics listening", "addr", mln.Addr().String())
			}
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyPath, "policy", "", "policy file (TOML, see above)")
	f.StringVar(&certPath, "cert", "", "server certificate (PEM)")
	f.StringVar(&keyPath, "key", "", "server private key (PEM)")
	f.StringVar(&listen, "listen", ":4433", "address to accept RA-TLS clients on")
	f.StringVar(&metricsListen, "metrics-listen", "", "address for /healthz and /metrics (off if empty)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	ef.register(cmd)
	for _, n := range []string{"policy", "cert", "key"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}

func init() { addCommand(newSecretServerCmd()) }
