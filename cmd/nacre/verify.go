package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nacre-tee/nacre/internal/attest"
	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/tee"
	"github.com/nacre-tee/nacre/internal/verify"
)

func init() { addCommand(newVerifyCmd()) }

type verifyFlags struct {
	collateral   []string
	at           string
	policyFile   string
	jsonOut      bool
	allowMissing bool
	fetch        bool
	pcsURL       string
	simKeys      []string
}

func newVerifyCmd() *cobra.Command {
	f := &verifyFlags{}
	c := &cobra.Command{
		Use:   "verify [--collateral PATH]... [--at TIME] [--policy FILE] [--trust-sim-key PEM]... [--json] FILE",
		Short: "Verify TEE evidence (SGX/TDX quote, SNP report, RA-TLS certificate) offline",
		Long: `Verify TEE evidence offline and check it against a policy.

FILE is a raw Intel SGX quote (v3) or TDX quote (v4, v5), an AMD SEV-SNP
attestation report (optionally followed by its certificate table), a
simulated-TEE report, a quote read from /dev/attestation/quote inside a
shield, or an RA-TLS certificate (PEM or DER, as written by nacre ratls or
Gramine). For a certificate, the embedded evidence is verified,
then the binding of the certificate's public key into the platform-signed
report data; nacre's manifest measurement and signer from the certificate's
claims are printed as MANIFEST_MEASUREMENT / MANIFEST_SIGNER (policy keys
manifest_measurement / manifest_signer).

Simulated evidence proves nothing. It is accepted only when signed by a key
given with --trust-sim-key (PEM public or private key, e.g. the simulator's
~/.config/nacre/sim-tee-key.pem), and its status is INSECURE-SIMULATED.

Verification is offline unless --fetch is given. Collateral files are
auto-detected: dcap-qvl style *_collateral.json bundles,
Intel PCS tcbInfo / enclaveIdentity responses, CRLs (DER or PEM), PEM issuer
chains or header dumps, AMD VCEK/VLEK/ASK/ARK certificates (DER or PEM) and
SNP certificate tables.

Without --policy the policy is strict (only an UpToDate TCB, no debug), with
Gramine's RA_TLS_ALLOW_* variables honoured when set to 1, and
RA_TLS_MRENCLAVE/MRSIGNER/ISV_PROD_ID/ISV_SVN when all four are set.

Exit status: 0 accepted, 1 rejected (the failed check is named), 2 usage
error or unreadable input.`,
		Example: `  nacre verify --collateral sgx_quote_collateral.json --at 2025-07-01T00:00:00Z sgx_quote
  nacre ratls --platform sim crt.pem key.pem
  nacre verify --trust-sim-key ~/.config/nacre/sim-tee-key.pem crt.pem
  RA_TLS_ALLOW_OUTDATED_TCB_INSECURE=1 nacre verify --collateral pckcrl --collateral rootcrl.der \
      --collateral tcbinfo.json --collateral qeidentity.json --collateral tcb_chain.pem quote.dat
  nacre verify --collateral vcek.der --policy policy.toml --json report.bin`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &exitError{2, fmt.Errorf("verify needs exactly one evidence FILE (got %d arguments); see nacre verify --help", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), cmd.OutOrStdout(), f, args[0])
		},
	}
	c.Flags().StringArrayVar(&f.collateral, "collateral", nil, "collateral file (repeatable; format auto-detected)")
	c.Flags().StringVar(&f.at, "at", "", "verification time, RFC 3339 or YYYY-MM-DD (default: now)")
	c.Flags().StringVar(&f.policyFile, "policy", "", "policy file (TOML, or JSON if it ends in .json)")
	c.Flags().BoolVar(&f.jsonOut, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&f.fetch, "fetch", false, "fetch collateral the files lack from Intel PCS / AMD KDS (network)")
	c.Flags().StringVar(&f.pcsURL, "pcs-url", "", "with --fetch: Intel PCS or PCCS base URL (default "+verify.IntelPCSURL+")")
	c.Flags().StringArrayVar(&f.simKeys, "trust-sim-key", nil, "INSECURE: accept simulated evidence signed by this PEM public (or private) key (repeatable)")
	c.Flags().BoolVar(&f.allowMissing, "allow-missing-collateral", false, "record checks whose collateral is absent as skipped (TCB status Unknown) instead of failing")
	return c
}

func parseAt(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2025-07-01T00:00:00Z) or a date (2025-07-01)", s)
}

func runVerify(ctx context.Context, out io.Writer, f *verifyFlags, file string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	opts := &verify.Options{AllowMissingCollateral: f.allowMissing}
	if f.fetch {
		opts.Fetcher = &verify.HTTPFetcher{PCSURL: f.pcsURL}
	} else if f.pcsURL != "" {
		return &exitError{2, fmt.Errorf("--pcs-url needs --fetch")}
	}
	if f.at != "" {
		at, err := parseAt(f.at)
		if err != nil {
			return &exitError{2, err}
		}
		opts.Now = func() time.Time { return at }
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return &exitError{2, fmt.Errorf("evidence: %w", err)}
	}
	if opts.Collateral, err = verify.LoadCollateral(f.collateral...); err != nil {
		return &exitError{2, err}
	}
	pol, err := loadVerifyPolicy(f.policyFile)
	if err != nil {
		return &exitError{2, err}
	}
	for _, k := range f.simKeys {
		pub, err := tee.LoadSimPublicKey(k)
		if err != nil {
			return &exitError{2, fmt.Errorf("--trust-sim-key: %w", err)}
		}
		ctx = attest.WithSimKeys(ctx, pub)
	}

	res, verr := verify.VerifyEvidence(ctx, raw, opts)
	if errors.Is(verr, verify.ErrUnrecognized) {
		return &exitError{2, fmt.Errorf("%s: %w", file, verr)}
	}
	if verr == nil {
		verr = pol.Evaluate(res)
	}
	if f.jsonOut {
		err = printVerifyJSON(out, res, verr)
	} else {
		err = printVerifyText(out, res, verr)
	}
	if err != nil {
		return &exitError{2, err}
	}
	if verr != nil {
		return &exitError{1, verr}
	}
	return nil
}

func loadVerifyPolicy(path string) (*policy.Policy, error) {
	if path != "" {
		return policy.Load(path)
	}
	return attest.PolicyFromEnv(nil)
}

func printVerifyText(out io.Writer, res *verify.Result, verr error) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "platform:\t%s\n", orDash(string(res.Platform)))
	fmt.Fprintf(w, "version:\t%d\n", res.Version)
	if res.Product != "" {
		fmt.Fprintf(w, "product:\t%s\n", res.Product)
	}
	for _, m := range res.Measurements {
		fmt.Fprintf(w, "%s:\t%x\n", m.Name, m.Value)
	}
	if res.ReportData != nil {
		fmt.Fprintf(w, "report data:\t%x\n", res.ReportData)
	}
	fmt.Fprintf(w, "debug:\t%v\n", res.Debug)
	if r, ok := res.Details.(*verify.SNPReport); ok {
		fmt.Fprintf(w, "vmpl:\t%d\n", r.VMPL)
		fmt.Fprintf(w, "guest policy:\t%#x\n", r.Policy)
		fmt.Fprintf(w, "reported tcb:\t%#016x (%v)\n", r.ReportedTCB, verify.DecodeSNPTCB(r.ReportedTCB, res.Product))
	}
	if res.Platform == attest.PlatformSim {
		fmt.Fprintf(w, "status:\t%s (proves nothing)\n", tee.SimStatus)
	}
	fmt.Fprintf(w, "tcb status:\t%s\n", orDash(string(res.TCBStatus)))
	if len(res.AdvisoryIDs) > 0 {
		fmt.Fprintf(w, "advisories:\t%s\n", strings.Join(res.AdvisoryIDs, ", "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "checks:")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, c := range res.Checks {
		mark := "ok"
		switch {
		case !c.OK:
			mark = "FAIL"
		case c.Skipped:
			mark = "skip"
		}
		fmt.Fprintf(w, "  [%s]\t%s\t%s\n", mark, c.Name, c.Detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if verr != nil {
		_, err := fmt.Fprintf(out, "verdict: REJECTED (%s)\n", verify.FailedCheck(verr))
		return err
	}
	_, err := fmt.Fprintln(out, "verdict: ACCEPTED")
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type verifyJSON struct {
	Platform     string            `json:"platform"`
	Version      int               `json:"version"`
	Product      string            `json:"product,omitempty"`
	Measurements map[string]string `json:"measurements"`
	ReportData   string            `json:"report_data"`
	ProductID    uint16            `json:"product_id"`
	SVN          uint32            `json:"svn"`
	Debug        bool              `json:"debug"`
	TCBStatus    string            `json:"tcb_status"`
	Status       string            `json:"status,omitempty"` // accepted only: attest.Status
	AdvisoryIDs  []string          `json:"advisory_ids"`
	Checks       []verify.Check    `json:"checks"`
	Accepted     bool              `json:"accepted"`
	FailedCheck  string            `json:"failed_check,omitempty"`
	Error        string            `json:"error,omitempty"`
}

func printVerifyJSON(out io.Writer, res *verify.Result, verr error) error {
	v := verifyJSON{
		Platform: string(res.Platform), Version: res.Version, Product: res.Product,
		Measurements: map[string]string{}, ReportData: hex.EncodeToString(res.ReportData),
		ProductID: res.ProductID, SVN: res.SVN, Debug: res.Debug, TCBStatus: string(res.TCBStatus),
		AdvisoryIDs: res.AdvisoryIDs, Checks: res.Checks, Accepted: verr == nil && res.Accepted,
	}
	if v.AdvisoryIDs == nil {
		v.AdvisoryIDs = []string{}
	}
	for _, m := range res.Measurements {
		v.Measurements[m.Name] = hex.EncodeToString(m.Value)
	}
	if verr != nil {
		v.FailedCheck, v.Error = verify.FailedCheck(verr), verr.Error()
	} else if res.Accepted {
		v.Status = attest.Status(res)
	}
	e := json.NewEncoder(out)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
