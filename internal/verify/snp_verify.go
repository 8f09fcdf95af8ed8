package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// SplitSNPExtended splits a report followed by a certificate table (as
// written by tools that save SNP_GET_EXT_REPORT output) into both parts.
func SplitSNPExtended(b []byte) (report []byte, certs []*x509.Certificate, err error) {
	if len(b) <= snpReportLen {
		return b, nil, nil
	}
	certs, err = ParseSNPCertTable(b[snpReportLen:])
	if err != nil {
		return nil, nil, err
	}
	return b[:snpReportLen], certs, nil
}

// VerifySNPReport checks an SEV-SNP report: structure, the VCEK/VLEK → ASK/ASVK
// → ARK chain (ARK embedded; a collateral ARK must equal it), an ARK CRL if
// given, the ECDSA P-384 report signature, and that the VEK's TCB and hwID
// match the report's REPORTED_TCB and CHIP_ID. raw may carry a certificate
// table after the report.
func VerifySNPReport(ctx context.Context, raw []byte, opts *Options) (*Result, error) {
	res := &Result{Platform: PlatformSNP}
	reportBytes, tableCerts, err := SplitSNPExtended(raw)
	if err != nil {
		return res, res.Fail("snp.parse", err)
	}
	r, err := ParseSNPReport(reportBytes)
	if err != nil {
		return res, res.Fail("snp.parse", err)
	}
	res.Details = r
	res.Version = int(r.Version)
	res.addMeas(MeasSNP, r.Measurement[:])
	res.addMeas(MeasHostData, r.HostData[:])
	res.addMeas(MeasIDKeyDigest, r.IDKeyDigest[:])
	res.addMeas(MeasAuthorKey, r.AuthorKeyDigest[:])
	res.addMeas(MeasFamilyID, r.FamilyID[:])
	res.addMeas(MeasImageID, r.ImageID[:])
	res.ReportData = append([]byte(nil), r.ReportData[:]...)
	res.SVN = r.GuestSVN
	res.Debug = r.Debug()
	res.Pass("snp.parse", "version %d, VMPL %d, policy %#x", r.Version, r.VMPL, r.Policy)

	now := opts.now()
	certs := append(slices.Clone(tableCerts), opts.collateral().Certs...)
	kind := "VCEK"
	switch r.SigningKey() {
	case snpKeyVCEK:
	case snpKeyVLEK:
		kind = "VLEK"
	default:
		return res, res.Fail("snp.signing_key", fmt.Errorf("%w: SIGNING_KEY %d (only VCEK 0 and VLEK 1 can be verified)", ErrUnsupported, r.SigningKey()))
	}
	res.Pass("snp.signing_key", "signed by the %s", kind)

	vek, ext := pickVEK(certs, kind, r)
	if vek == nil && opts != nil && opts.Fetcher != nil && kind == "VCEK" {
		product := productFromCPUID(r.CPUIDFamily, r.CPUIDModel)
		if fetched, err := opts.Fetcher.SNPCertificates(ctx, product, r.ChipID[:], r.ReportedTCB); err == nil {
			certs = append(certs, fetched...)
			vek, ext = pickVEK(certs, kind, r)
		} else {
			opts.logger().Debug("VCEK fetch failed", "err", err)
		}
	}
	if vek == nil {
		return res, res.Fail("snp.chain", fmt.Errorf("%w: no %s certificate among the collateral (give the %s as DER/PEM, or a report with a certificate table)", ErrMissingCollateral, kind, kind))
	}
	product := snpProduct(vek, ext)
	res.Product = product
	if p := productFromCPUID(r.CPUIDFamily, r.CPUIDModel); r.Version >= 3 && p != "" && p != product {
		return res, res.Fail("snp.product", fmt.Errorf("%w: report CPUID says %s, %s is for %s", ErrMismatch, p, kind, product))
	}
	ark, ask, err := snpChain(vek, certs, product, now)
	if err != nil {
		return res, res.Fail("snp.chain", err)
	}
	res.Pass("snp.chain", "%s ← %s ← %s", kind, ask.Subject.CommonName, ark.Subject.CommonName)

	if crl := opts.collateral().crlIssuedBy(ark, now); crl != nil {
		if err := checkCRL(crl, ark, now, ask, vek); err != nil {
			return res, res.Fail("snp.crl", err)
		}
		res.Pass("snp.crl", "CRL of %s valid until %s; not revoked", ark.Subject.CommonName, crl.NextUpdate.UTC().Format(time.RFC3339))
	} else {
		res.Skip("snp.crl", "no CRL of %s given", ark.Subject.CommonName)
	}

	key, ok := vek.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P384() {
		return res, res.Fail("snp.signature", fmt.Errorf("%w: %s key is not ECDSA P-384", ErrUnsupported, kind))
	}
	h := sha512.Sum384(r.Raw[:snpSignedLen])
	if !ecdsa.Verify(key, h[:], leInt(r.SigR[:48]), leInt(r.SigS[:48])) {
		return res, res.Fail("snp.signature", fmt.Errorf("%w: report signature by the %s over bytes 0x0..0x29F", ErrBadSignature, kind))
	}
	res.Pass("snp.signature", "report signed by the %s", kind)

	got := DecodeSNPTCB(r.ReportedTCB, product)
	if got != ext.TCB {
		return res, res.Fail("snp.tcb", fmt.Errorf("%w: REPORTED_TCB {%v}, %s certificate {%v}", ErrMismatch, got, kind, ext.TCB))
	}
	res.Pass("snp.tcb", "REPORTED_TCB matches the %s: %v", kind, got)

	switch {
	case kind == "VLEK":
		res.Skip("snp.chip_id", "VLEK certificates carry no hwID")
	case r.Flags&snpFlagMaskChip != 0:
		res.Skip("snp.chip_id", "CHIP_ID masked by MASK_CHIP_KEY")
	case !bytes.Equal(ext.HwID, r.ChipID[:]):
		return res, res.Fail("snp.chip_id", fmt.Errorf("%w: CHIP_ID %x, VCEK hwID %x", ErrMismatch, r.ChipID[:], ext.HwID))
	default:
		res.Pass("snp.chip_id", "CHIP_ID equals the VCEK hwID")
	}
	res.Accepted = true
	return res, nil
}

func leInt(b []byte) *big.Int {
	be := slices.Clone(b)
	slices.Reverse(be)
	return new(big.Int).SetBytes(be)
}

// pickVEK chooses the VCEK/VLEK certificate for the report: the right kind
// (by issuer), preferring a matching hwID and TCB.
func pickVEK(certs []*x509.Certificate, kind string, r *SNPReport) (*x509.Certificate, *VEKExtensions) {
	var best *x509.Certificate
	var bestExt *VEKExtensions
	bestScore := -1
	for _, c := range certs {
		issuer := c.Issuer.CommonName
		isVLEK := strings.HasPrefix(issuer, "SEV-VLEK-")
		if !strings.HasPrefix(issuer, "SEV-") || isVLEK != (kind == "VLEK") {
			continue
		}
		x, err := ParseVEKExtensions(c)
		if err != nil {
			continue
		}
		score := 0
		if bytes.Equal(x.HwID, r.ChipID[:]) {
			score += 2
		}
		if DecodeSNPTCB(r.ReportedTCB, snpProduct(c, x)) == x.TCB {
			score++
		}
		if score > bestScore {
			best, bestExt, bestScore = c, x, score
		}
	}
	return best, bestExt
}

// snpChain verifies vek ← ASK/ASVK ← ARK. The ARK is always the embedded one
// for product; an ASK from the collateral is used if it verifies under it.
func snpChain(vek *x509.Certificate, certs []*x509.Certificate, product string, now time.Time) (ark, ask *x509.Certificate, err error) {
	ark = amdCerts()["ARK-"+product]
	if ark == nil {
		return nil, nil, fmt.Errorf("%w: no embedded ARK for product %q", ErrUntrustedRoot, product)
	}
	for _, c := range certs {
		if c.Subject.CommonName == ark.Subject.CommonName && !bytes.Equal(c.RawSubjectPublicKeyInfo, ark.RawSubjectPublicKeyInfo) {
			return nil, nil, fmt.Errorf("%w: collateral %s has a different key than AMD's", ErrUntrustedRoot, ark.Subject.CommonName)
		}
	}
	if err := ark.CheckSignature(ark.SignatureAlgorithm, ark.RawTBSCertificate, ark.Signature); err != nil {
		return nil, nil, fmt.Errorf("%w: %s self-signature: %v", ErrBadSignature, ark.Subject.CommonName, err)
	}
	candidates := []*x509.Certificate{}
	for _, c := range certs {
		if bytes.Equal(c.RawSubject, vek.RawIssuer) {
			candidates = append(candidates, c)
		}
	}
	if emb := amdCerts()[vek.Issuer.CommonName]; emb != nil {
		candidates = append(candidates, emb)
	}
	if len(candidates) == 0 {
		return nil, nil, fmt.Errorf("%w: issuer %q of the VEK is neither in the collateral nor embedded", ErrUntrustedRoot, vek.Issuer.CommonName)
	}
	var lastErr error
	for _, c := range candidates {
		if err := ark.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil || !bytes.Equal(c.RawIssuer, ark.RawSubject) {
			lastErr = fmt.Errorf("%w: %s not signed by %s", ErrBadSignature, c.Subject.CommonName, ark.Subject.CommonName)
			continue
		}
		ask = c
		break
	}
	if ask == nil {
		return nil, nil, lastErr
	}
	if err := ask.CheckSignature(vek.SignatureAlgorithm, vek.RawTBSCertificate, vek.Signature); err != nil {
		return nil, nil, fmt.Errorf("%w: VEK %q not signed by %s: %v", ErrBadSignature, vek.Subject.CommonName, ask.Subject.CommonName, err)
	}
	for _, c := range []*x509.Certificate{ark, ask, vek} {
		if err := checkValidity(c, now); err != nil {
			return nil, nil, err
		}
	}
	return ark, ask, nil
}
