package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
)

// VerifyQuote checks an Intel SGX or TDX quote: structure, quote signature,
// QE report signature and binding, PCK chain to the Intel SGX Root CA, CRLs,
// TCB info and QE identity (signature, validity, match) and computes the TCB
// status. It returns the Result and, if a check failed, a *CheckError.
func VerifyQuote(ctx context.Context, raw []byte, opts *Options) (*Result, error) {
	res := &Result{}
	q, err := ParseQuote(raw)
	if err != nil {
		return res, res.Fail("quote.parse", err)
	}
	res.Details = q
	res.Platform = q.Platform()
	res.Version = int(q.Header.Version)
	fillQuoteResult(res, q)
	res.Pass("quote.parse", "version %d, TEE type %#x, body type %d", q.Header.Version, q.Header.TEEType, q.BodyType)
	v := &intelVerifier{q: q, res: res, opts: opts, col: opts.collateral()}
	if err := v.run(ctx); err != nil {
		return res, err
	}
	res.Accepted = true
	return res, nil
}

func fillQuoteResult(res *Result, q *Quote) {
	if b := q.SGX; b != nil {
		res.addMeas(MeasMREnclave, b.MREnclave[:])
		res.addMeas(MeasMRSigner, b.MRSigner[:])
		res.ReportData = append([]byte(nil), b.ReportData[:]...)
		res.ProductID, res.SVN = b.ISVProdID, uint32(b.ISVSVN)
		res.Debug = b.Flags()&SGXAttrDebug != 0
		return
	}
	td := q.TD
	res.addMeas(MeasMRTD, td.MRTD[:])
	for i, n := range []string{MeasRTMR0, MeasRTMR1, MeasRTMR2, MeasRTMR3} {
		res.addMeas(n, td.RTMR[i][:])
	}
	res.addMeas(MeasMRSeam, td.MRSeam[:])
	res.addMeas(MeasMRSignerSeam, td.MRSignerSeam[:])
	res.addMeas(MeasMRConfigID, td.MRConfigID[:])
	res.addMeas(MeasMROwner, td.MROwner[:])
	res.addMeas(MeasMROwnerConfig, td.MROwnerConfig[:])
	if td.TD15 {
		res.addMeas(MeasMRServiceTD, td.MRServiceTD[:])
	}
	res.ReportData = append([]byte(nil), td.ReportData[:]...)
	res.Debug = td.TDAttributes[0]&TDAttrDebug != 0
}

type intelVerifier struct {
	q    *Quote
	res  *Result
	opts *Options
	col  *Collateral

	pckChain []*x509.Certificate
	pck      *PCKExtensions
	fetchErr error // why Options.Fetcher could not help, for "missing" messages
}

func (v *intelVerifier) run(ctx context.Context) error {
	q, res, now := v.q, v.res, v.opts.now()
	if q.Header.QEVendorID != intelQEVendorID {
		return res.Fail("quote.qe_vendor", fmt.Errorf("%w: QE vendor ID %x is not Intel's", ErrUnsupported, q.Header.QEVendorID[:]))
	}
	res.Pass("quote.qe_vendor", "Intel QE")

	// PCK chain from the quote's certification data.
	chain, err := parseStrictPEMChain(q.CertData)
	if err != nil {
		return res.Fail("pck.chain", fmt.Errorf("%w: PCK chain in certification data: %v", ErrMalformed, err))
	}
	if err := verifyIntelChain(chain, now); err != nil {
		return res.Fail("pck.chain", err)
	}
	// The PCK leaf must hang directly off a PCK CA under the root.
	if len(chain) < 2 || !isPCKCA(chain[1]) || !bytes.Equal(chain[1].RawIssuer, intelRoot().RawSubject) {
		return res.Fail("pck.chain", fmt.Errorf("%w: PCK leaf %q is issued by %q, want the Intel SGX PCK Platform or Processor CA", ErrUntrustedRoot, chain[0].Subject.CommonName, chain[0].Issuer.CommonName))
	}
	v.pckChain = chain
	leaf := chain[0]
	res.Pass("pck.chain", "%q ← %q ← Intel SGX Root CA", leaf.Subject.CommonName, chain[1%len(chain)].Subject.CommonName)

	v.pck, err = ParsePCKExtensions(leaf)
	if err != nil {
		return res.Fail("pck.extensions", err)
	}
	res.Pass("pck.extensions", "FMSPC %X PCEID %X PCESVN %d TCB %v", v.pck.FMSPC, v.pck.PCEID, v.pck.PCESVN, v.pck.CompSVN)

	// QE report signed by the PCK, and binding the attestation key.
	pckKey, ok := leafP256(leaf)
	if !ok {
		return res.Fail("qe.report_signature", fmt.Errorf("%w: PCK key is not ECDSA P-256", ErrUnsupported))
	}
	if !verifyRawP256(pckKey, q.QEReport.Raw, q.QEReportSignature[:]) {
		return res.Fail("qe.report_signature", fmt.Errorf("%w: QE report signature by the PCK", ErrBadSignature))
	}
	res.Pass("qe.report_signature", "QE report signed by the PCK")
	h := sha256.New()
	h.Write(q.AttestKey[:])
	h.Write(q.QEAuthData)
	want := h.Sum(nil)
	if !bytes.Equal(q.QEReport.ReportData[:32], want) || !isZero(q.QEReport.ReportData[32:]) {
		return res.Fail("qe.report_data", fmt.Errorf("%w: QE REPORTDATA %x, want SHA-256(attestation key ‖ QE auth data) %x ‖ zeros", ErrMismatch, q.QEReport.ReportData[:], want))
	}
	res.Pass("qe.report_data", "QE report binds the attestation key")

	attKey, err := p256Key(q.AttestKey[:])
	if err != nil {
		return res.Fail("quote.signature", err)
	}
	if !verifyRawP256(attKey, q.Signed, q.Signature[:]) {
		return res.Fail("quote.signature", fmt.Errorf("%w: quote signature by the attestation key over header and body", ErrBadSignature))
	}
	res.Pass("quote.signature", "header and report body signed by the attestation key")

	if err := v.fetchIfNeeded(ctx); err != nil {
		v.fetchErr = err
		v.opts.logger().Warn("collateral fetch failed", "err", err)
	}
	if err := v.checkRevocation(now); err != nil {
		return err
	}
	platform, err := v.checkTCBInfo(now)
	if err != nil {
		return err
	}
	return v.checkQEIdentity(now, platform)
}

func leafP256(c *x509.Certificate) (*ecdsa.PublicKey, bool) {
	k, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, false
	}
	return k, true
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (v *intelVerifier) fetchIfNeeded(ctx context.Context) error {
	if v.opts == nil || v.opts.Fetcher == nil {
		return nil
	}
	if len(v.col.TCBInfos) > 0 && len(v.col.QEIdentities) > 0 && len(v.col.CRLs) >= 2 {
		return nil
	}
	tee := "SGX"
	if v.q.TD != nil {
		tee = "TDX"
	}
	ca := "platform"
	if strings.Contains(v.pckChain[0].Issuer.CommonName, "Processor") {
		ca = "processor"
	}
	c, err := v.opts.Fetcher.IntelCollateral(ctx, tee, v.pck.FMSPC, v.pck.PCEID, ca)
	if err != nil {
		return err
	}
	merged := &Collateral{}
	merged.Merge(v.col)
	merged.Merge(c)
	v.col = merged
	return nil
}

// missing records a skipped check or fails it, per AllowMissingCollateral.
func (v *intelVerifier) missing(name, what string) error {
	if v.opts != nil && v.opts.AllowMissingCollateral {
		v.res.Skip(name, "skipped: %s not given", what)
		return nil
	}
	if v.fetchErr != nil {
		return v.res.Fail(name, fmt.Errorf("%w: %s (fetching failed: %v)", ErrMissingCollateral, what, v.fetchErr))
	}
	return v.res.Fail(name, fmt.Errorf("%w: %s (pass it with --collateral, or allow missing collateral)", ErrMissingCollateral, what))
}

func isPCKCA(c *x509.Certificate) bool {
	cn := c.Subject.CommonName
	return cn == "Intel SGX PCK Platform CA" || cn == "Intel SGX PCK Processor CA"
}
