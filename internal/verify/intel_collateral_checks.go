package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// checkRevocation checks the Root CA CRL (PCK intermediate not revoked) and
// the PCK CA's CRL (PCK leaf not revoked).
func (v *intelVerifier) checkRevocation(now time.Time) error {
	chain := v.pckChain
	if len(chain) < 2 {
		return v.res.Fail("pck.chain", fmt.Errorf("%w: PCK chain has no intermediate CA", ErrMalformed))
	}
	leaf, ca := chain[0], chain[1]
	if crl := v.col.crlIssuedBy(intelRoot(), now); crl == nil {
		if err := v.missing("crl.root", "Intel SGX Root CA CRL"); err != nil {
			return err
		}
	} else {
		if err := checkCRL(crl, intelRoot(), now, ca); err != nil {
			return v.res.Fail("crl.root", err)
		}
		v.res.Pass("crl.root", "Root CA CRL valid until %s; %q not revoked", crl.NextUpdate.UTC().Format(time.RFC3339), ca.Subject.CommonName)
	}
	if crl := v.col.crlIssuedBy(ca, now); crl == nil {
		if err := v.missing("crl.pck", fmt.Sprintf("CRL of %q", ca.Subject.CommonName)); err != nil {
			return err
		}
	} else {
		if err := checkCRL(crl, ca, now, leaf); err != nil {
			return v.res.Fail("crl.pck", err)
		}
		v.res.Pass("crl.pck", "%s CRL valid until %s (%d entries); PCK not revoked", ca.Subject.CommonName, crl.NextUpdate.UTC().Format(time.RFC3339), len(crl.RevokedCertificateEntries))
	}
	return nil
}

// verifySignedJSON checks a PCS JSON signature with the TCB signing chain
// (from the document or from the collateral's certificates), the chain to
// the Intel root, and the signing cert against the Root CA CRL if present.
func (v *intelVerifier) verifySignedJSON(s *SignedJSON, now time.Time) error {
	chain := s.Chain
	if len(chain) == 0 {
		chain = v.col.certsByCN(tcbSigningCN)
	}
	if len(chain) == 0 {
		return fmt.Errorf("%w: Intel SGX TCB Signing certificate (issuer chain) for %s", ErrMissingCollateral, orDefault(s.Source, "signed JSON"))
	}
	signer := chain[0]
	if err := verifyIntelChain(chain, now); err != nil {
		// A re-issued TCB signing cert may be present beside an expired one.
		var ok bool
		for _, alt := range v.col.certsByCN(signer.Subject.CommonName) {
			if verifyIntelChain([]*x509.Certificate{alt}, now) == nil {
				signer, ok = alt, true
				break
			}
		}
		if !ok {
			return fmt.Errorf("TCB signing chain: %w", err)
		}
	}
	// Any certificate under the Intel root verifies as a chain (PCK leaves
	// too, whose keys live in platforms); only the TCB Signing key may sign.
	if signer.Subject.CommonName != tcbSigningCN || !bytes.Equal(signer.RawIssuer, intelRoot().RawSubject) {
		return fmt.Errorf("%w: signed JSON signer is %q issued by %q, want %q issued by the Intel SGX Root CA",
			ErrUntrustedRoot, signer.Subject.CommonName, signer.Issuer.CommonName, tcbSigningCN)
	}
	key, ok := signer.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: TCB signing key is not ECDSA", ErrUnsupported)
	}
	if !verifyRawP256(key, s.Body, s.Signature) {
		return fmt.Errorf("%w: by %q over the exact signed JSON bytes", ErrBadSignature, signer.Subject.CommonName)
	}
	if crl := v.col.crlIssuedBy(intelRoot(), now); crl != nil {
		if err := checkCRL(crl, intelRoot(), now, signer); err != nil {
			return err
		}
	}
	return nil
}

// tcbSigningCN is the subject CN of the key that signs TCB info and QE identity.
const tcbSigningCN = "Intel SGX TCB Signing"

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// checkTCBInfo selects the TCB info for the quote's TEE and FMSPC, verifies
// it and matches the platform TCB level; returns the platform status.
func (v *intelVerifier) checkTCBInfo(now time.Time) (TCBStatus, error) {
	wantID := "SGX"
	if v.q.TD != nil {
		wantID = "TDX"
	}
	var (
		best     *TCBInfo
		bestDoc  *SignedJSON
		fmspcs   []string
		parseErr error
	)
	for i := range v.col.TCBInfos {
		doc := &v.col.TCBInfos[i]
		ti, err := ParseTCBInfo(doc.Body)
		if err != nil {
			parseErr = err
			continue
		}
		if ti.ID != wantID {
			continue
		}
		fmspcs = append(fmspcs, ti.FMSPC)
		if !strings.EqualFold(ti.FMSPC, hex.EncodeToString(v.pck.FMSPC)) {
			continue
		}
		if best == nil || ti.IssueDate.After(best.IssueDate) && !now.Before(ti.IssueDate) {
			best, bestDoc = ti, doc
		}
	}
	if best == nil {
		switch {
		case parseErr != nil && len(fmspcs) == 0:
			return "", v.res.Fail("tcb_info.format", parseErr)
		case len(fmspcs) > 0:
			return "", v.res.Fail("tcb_info.fmspc", fmt.Errorf("%w: PCK FMSPC %X, %s tcbInfo given for %s", ErrMismatch, v.pck.FMSPC, wantID, strings.Join(fmspcs, ", ")))
		}
		if err := v.missing("tcb_info", wantID+" tcbInfo for FMSPC "+strings.ToUpper(hex.EncodeToString(v.pck.FMSPC))); err != nil {
			return "", err
		}
		return TCBUnknown, nil
	}
	if err := v.verifySignedJSON(bestDoc, now); err != nil {
		if errors.Is(err, ErrMissingCollateral) && v.opts != nil && v.opts.AllowMissingCollateral {
			v.res.Skip("tcb_info.signature", "skipped: %v", err)
		} else {
			return "", v.res.Fail("tcb_info.signature", err)
		}
	} else {
		v.res.Pass("tcb_info.signature", "signed by Intel SGX TCB Signing")
	}
	if err := validAt(best.IssueDate, best.NextUpdate, now, "tcbInfo"); err != nil {
		return "", v.res.Fail("tcb_info.validity", err)
	}
	v.res.Pass("tcb_info.validity", "issued %s, next update %s", best.IssueDate.UTC().Format(time.RFC3339), best.NextUpdate.UTC().Format(time.RFC3339))
	if !strings.EqualFold(best.PCEID, hex.EncodeToString(v.pck.PCEID)) {
		return "", v.res.Fail("tcb_info.fmspc", fmt.Errorf("%w: PCK PCEID %X, tcbInfo pceId %s", ErrMismatch, v.pck.PCEID, best.PCEID))
	}
	v.res.Pass("tcb_info.fmspc", "FMSPC %s, PCEID %s, evaluation data number %d", best.FMSPC, best.PCEID, best.TCBEvaluationDataNumber)

	if v.q.TD == nil {
		level, err := matchPlatformLevel(best, v.pck, nil)
		if err != nil {
			return "", v.res.Fail("tcb.level", err)
		}
		v.res.AdvisoryIDs = appendUnique(v.res.AdvisoryIDs, level.AdvisoryIDs...)
		v.res.Pass("tcb.level", "platform level of %s: %s %v", level.TCBDate, level.TCBStatus, level.AdvisoryIDs)
		return TCBStatus(level.TCBStatus), nil
	}
	// TDX: the status at TD launch comes from TEE_TCB_SVN. For a TDX 1.5
	// body Intel's QVL also evaluates TEE_TCB_SVN2 (the module running now,
	// after an update in place); it must match a level too, and is reported.
	status, adv, err := v.evaluateTDX(best, v.q.TD.TEETCBSVN, "tcb.level", "tdx.module")
	if err != nil {
		return "", err
	}
	v.res.AdvisoryIDs = appendUnique(v.res.AdvisoryIDs, adv...)
	if v.q.TD.TD15 {
		cur, curAdv, err := v.evaluateTDX(best, v.q.TD.TEETCBSVN2, "tdx.current_tcb", "tdx.current_tcb")
		if err != nil {
			return "", err
		}
		note := ""
		if status != TCBUpToDate && cur == TCBUpToDate {
			note = "; TD relaunch advised (the running module is up to date)"
		}
		v.res.Pass("tdx.current_tcb", "TEE_TCB_SVN2 %x: %s %v%s", v.q.TD.TEETCBSVN2[:], cur, curAdv, note)
	}
	return status, nil
}

// evaluateTDX matches the platform level and the TDX module for one
// TEE_TCB_SVN and returns the combined status. Failures are recorded under
// levelCheck / moduleCheck; passes are recorded only for the launch SVN.
func (v *intelVerifier) evaluateTDX(t *TCBInfo, svn [16]byte, levelCheck, moduleCheck string) (TCBStatus, []string, error) {
	launch := levelCheck == "tcb.level"
	level, err := matchPlatformLevel(t, v.pck, &svn)
	if err != nil {
		return "", nil, v.res.Fail(levelCheck, err)
	}
	status := TCBStatus(level.TCBStatus)
	adv := appendUnique(nil, level.AdvisoryIDs...)
	if launch {
		v.res.Pass(levelCheck, "platform level of %s: %s %v", level.TCBDate, level.TCBStatus, level.AdvisoryIDs)
	}
	ms, madv, id, err := matchTDXModule(t, v.q.TD, svn)
	if err != nil {
		return "", nil, v.res.Fail(moduleCheck, err)
	}
	if ms != "" {
		status = convergeStatus(status, ms)
		adv = appendUnique(adv, madv...)
	}
	if launch {
		if ms != "" {
			v.res.Pass(moduleCheck, "TDX module %s: %s %v", id, ms, madv)
		} else {
			v.res.Pass(moduleCheck, "MRSIGNERSEAM and SEAMATTRIBUTES match")
		}
	}
	return status, adv, nil
}

// checkQEIdentity verifies the QE identity, matches the QE report against it
// and sets the final TCB status.
func (v *intelVerifier) checkQEIdentity(now time.Time, platform TCBStatus) error {
	wantID := "QE"
	if v.q.TD != nil {
		wantID = "TD_QE"
	}
	var best *QEIdentity
	var bestDoc *SignedJSON
	var parseErr error
	for i := range v.col.QEIdentities {
		doc := &v.col.QEIdentities[i]
		qi, err := ParseQEIdentity(doc.Body)
		if err != nil {
			parseErr = err
			continue
		}
		if qi.ID != wantID {
			continue
		}
		if best == nil || qi.IssueDate.After(best.IssueDate) && !now.Before(qi.IssueDate) {
			best, bestDoc = qi, doc
		}
	}
	if best == nil {
		if parseErr != nil {
			return v.res.Fail("qe_identity.format", parseErr)
		}
		if err := v.missing("qe_identity", wantID+" identity"); err != nil {
			return err
		}
		v.res.TCBStatus = platform
		return nil
	}
	if err := v.verifySignedJSON(bestDoc, now); err != nil {
		if errors.Is(err, ErrMissingCollateral) && v.opts != nil && v.opts.AllowMissingCollateral {
			v.res.Skip("qe_identity.signature", "skipped: %v", err)
		} else {
			return v.res.Fail("qe_identity.signature", err)
		}
	} else {
		v.res.Pass("qe_identity.signature", "signed by Intel SGX TCB Signing")
	}
	if err := validAt(best.IssueDate, best.NextUpdate, now, "QE identity"); err != nil {
		return v.res.Fail("qe_identity.validity", err)
	}
	v.res.Pass("qe_identity.validity", "issued %s, next update %s", best.IssueDate.UTC().Format(time.RFC3339), best.NextUpdate.UTC().Format(time.RFC3339))
	qs, adv, err := matchQEIdentity(best, &v.q.QEReport)
	if err != nil {
		return v.res.Fail("qe_identity.match", err)
	}
	v.res.Pass("qe_identity.match", "%s MRSIGNER/ISVPRODID/MISCSELECT/ATTRIBUTES match; ISVSVN %d: %s %v", wantID, v.q.QEReport.ISVSVN, qs, adv)
	v.res.AdvisoryIDs = appendUnique(v.res.AdvisoryIDs, adv...)
	if platform == TCBUnknown {
		v.res.TCBStatus = TCBUnknown
		return nil
	}
	v.res.TCBStatus = convergeStatus(platform, qs)
	if v.res.TCBStatus == TCBRevoked {
		return v.res.Fail("tcb.status", fmt.Errorf("%w: TCB status Revoked", ErrRevoked))
	}
	v.res.Pass("tcb.status", "%s", v.res.TCBStatus)
	return nil
}

// crlIssuedBy picks a CRL of issuer: one with a valid signature that is
// current at now if any, else the newest, else any (so a bad signature is
// reported as such rather than as missing).
func (c *Collateral) crlIssuedBy(issuer *x509.Certificate, now time.Time) *x509.RevocationList {
	var best, fallback *x509.RevocationList
	for _, crl := range c.CRLs {
		if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
			continue
		}
		fallback = crl
		if issuer.CheckSignature(crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) != nil {
			continue
		}
		current := !now.Before(crl.ThisUpdate) && (crl.NextUpdate.IsZero() || !now.After(crl.NextUpdate))
		if best == nil || current || crl.ThisUpdate.After(best.ThisUpdate) {
			best = crl
			if current {
				return best
			}
		}
	}
	if best != nil {
		return best
	}
	return fallback
}
