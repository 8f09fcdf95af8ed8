package verify

import (
	"encoding/binary"
	"slices"
	"testing"
)

// quoteRegions maps offsets of an Intel quote to the check a flipped bit
// there must trip.
type region struct {
	name       string
	start, end int
	checks     []string
}

func intelRegions(t *testing.T, raw []byte) []region {
	t.Helper()
	q, err := ParseQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	signed := len(q.Signed)
	sig := signed + 4 // after the u32 signature-data length
	inner := sig + 128
	if q.Header.Version >= 4 {
		inner += 6 // cert type 6 + size
	}
	authLen := len(q.QEAuthData)
	cert := inner + 384 + 64 + 2 + authLen + 6
	parse := []string{"quote.parse", "evidence.format"}
	return []region{
		{"version", 0, 2, parse},
		{"attestation key type", 2, 4, parse},
		{"tee type", 4, 8, parse},
		{"header svns", 8, 12, []string{"quote.signature"}},
		{"qe vendor", 12, 28, []string{"quote.qe_vendor", "quote.signature"}},
		{"user data", 28, 48, []string{"quote.signature"}},
		{"body", 48, signed, []string{"quote.signature", "quote.parse"}}, // v5 type/size fields parse
		{"signature data length", signed, sig, parse},
		{"quote signature", sig, sig + 64, []string{"quote.signature"}},
		{"attestation key", sig + 64, sig + 128, []string{"qe.report_data"}},
		{"outer cert header", sig + 128, inner, parse},
		{"QE report", inner, inner + 384, []string{"qe.report_signature"}},
		{"QE report signature", inner + 384, inner + 448, []string{"qe.report_signature"}},
		{"QE auth data size", inner + 448, inner + 450, parse},
		{"QE auth data", inner + 450, inner + 450 + authLen, []string{"qe.report_data"}},
		{"cert data header", inner + 450 + authLen, cert, parse},
		{"PCK chain", cert, cert + len(q.CertData), []string{"pck.chain", "pck.extensions", "qe.report_signature"}},
	}
}

// TestBitFlipIntel flips one bit in sampled positions of every region of
// the SGX v3, TDX v4 and TDX v5 quotes; each must be rejected by the
// region's check.
func TestBitFlipIntel(t *testing.T) {
	stride := 3
	if testing.Short() {
		stride = 41
	}
	for _, s := range []sample{sgxSample, tdxSample, tdx5} {
		t.Run(s.name, func(t *testing.T) {
			raw := readTestdata(t, s.evidence)
			opts := s.opts(t)
			n := 0
			for _, r := range intelRegions(t, raw) {
				if r.end > len(raw) || r.start > r.end {
					t.Fatalf("region %s %d..%d out of range", r.name, r.start, r.end)
				}
				// Always the first and last byte of the region, then a stride.
				offs := []int{r.start, r.end - 1}
				for o := r.start + 1; o < r.end-1; o += stride {
					offs = append(offs, o)
				}
				for _, off := range offs {
					if off < r.start || off >= r.end {
						continue
					}
					bad := slices.Clone(raw)
					bad[off] ^= 1 << (off % 8)
					_, err := s.verify(t, bad, opts)
					n++
					if got := FailedCheck(err); !slices.Contains(r.checks, got) {
						t.Errorf("%s: flip at %#x: failed check %q (%v), want one of %v", r.name, off, got, err, r.checks)
					}
				}
			}
			t.Logf("%d flips rejected", n)
		})
	}
}

func TestBitFlipSNP(t *testing.T) {
	stride := 3
	if testing.Short() {
		stride = 29
	}
	for _, s := range []sample{snpVCEK, snpVLEK} {
		t.Run(s.name, func(t *testing.T) {
			raw := readTestdata(t, s.evidence)
			opts := s.opts(t)
			for off := 0; off < len(raw); off += stride {
				bad := slices.Clone(raw)
				bad[off] ^= 1 << (off % 8)
				_, err := s.verify(t, bad, opts)
				got := FailedCheck(err)
				want := []string{"snp.signature"}
				switch {
				case off < 4: // version: another valid version breaks the signature
					want = []string{"snp.parse", "snp.signature", "evidence.format"}
				case off >= 0x34 && off < 0x38: // signature algorithm
					want = []string{"snp.parse", "evidence.format"}
				case off == 0x48: // flags: signing key selection
					want = []string{"snp.signature", "snp.signing_key", "snp.chain"}
				case off >= 0x188 && off < 0x18B: // CPUID family/model (v3)
					want = []string{"snp.signature", "snp.product"}
				case off >= 0x2A0+48 && off < 0x2E8 || off >= 0x2E8+48: // signature padding, reserved
					want = []string{"snp.parse"}
				}
				if !slices.Contains(want, got) {
					t.Errorf("flip at %#x: failed check %q (%v), want one of %v", off, got, err, want)
				}
			}
		})
	}
}

// Byte corruptions asserted by go-tdx-guest's tests for its quote, mapped to
// this package's checks.
func TestGoTDXGuestCorruptions(t *testing.T) {
	raw := readTestdata(t, gtgSample.evidence)
	opts := gtgSample.opts(t)
	for _, c := range []struct {
		off   int
		set   byte
		check string
	}{
		{0x00, 3, "quote.parse"},        // unsupported quote version (v3 must be SGX)
		{0x278, 0x42, "quote.parse"},    // signature data size
		{0x1343, 0x42, "pck.chain"},     // PCK chain cannot be parsed
		{0x1329, 0x42, "pck.chain"},     // root certificate
		{0xF5F, 0x42, "pck.chain"},      // intermediate signature
		{0xB77, 0x42, "pck.chain"},      // PCK leaf
		{0x1E, 0x42, "quote.signature"}, // header
		{0x3C, 0x42, "quote.signature"}, // TD body
	} {
		bad := slices.Clone(raw)
		if bad[c.off] == c.set {
			c.set ^= 0xFF
		}
		bad[c.off] = c.set
		_, err := gtgSample.verify(t, bad, opts)
		if got := FailedCheck(err); got != c.check {
			t.Errorf("byte %#x := %#x: failed check %q (%v), want %q", c.off, c.set, got, err, c.check)
		}
	}
}

func TestTruncatedPrefixes(t *testing.T) {
	for _, s := range []sample{sgxSample, tdxSample, tdx5, gtgSample} {
		raw := readTestdata(t, s.evidence)
		q, err := ParseQuote(raw)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(q.Raw); n++ {
			if _, err := ParseQuote(raw[:n]); err == nil {
				t.Fatalf("%s: prefix of %d bytes (quote is %d) parsed", s.name, n, len(q.Raw))
			}
		}
	}
	for _, s := range []sample{snpVCEK, snpVLEK} {
		raw := readTestdata(t, s.evidence)
		for n := 0; n < len(raw); n++ {
			if _, err := ParseSNPReport(raw[:n]); err == nil {
				t.Fatalf("%s: prefix of %d bytes parsed", s.name, n)
			}
		}
	}
}

func TestQuoteV5BodyFields(t *testing.T) {
	raw := readTestdata(t, tdx5.evidence)
	q, err := ParseTDXQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !q.TD.TD15 || q.TD.TEETCBSVN2 != [16]byte{0x0d, 1, 3} || q.TD.TEETCBSVN != [16]byte{7, 1, 3} {
		t.Errorf("TD15 fields: svn %x svn2 %x", q.TD.TEETCBSVN, q.TD.TEETCBSVN2)
	}
	if _, err := ParseSGXQuote(raw); err == nil {
		t.Error("ParseSGXQuote accepted a TDX quote")
	}
	// Body size field must match the body type.
	bad := slices.Clone(raw)
	binary.LittleEndian.PutUint32(bad[0x32:], td10ReportLen)
	if _, err := ParseQuote(bad); err == nil {
		t.Error("v5 quote with TD15 type and TD10 size parsed")
	}
}
