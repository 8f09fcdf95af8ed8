package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRecognizerRegistry(t *testing.T) {
	magic := []byte("NACRE-TEST-EVIDENCE")
	RegisterRecognizer(Recognizer{
		Name:  "test-evidence",
		Match: func(b []byte) bool { return bytes.HasPrefix(b, magic) },
		Verify: func(ctx context.Context, raw []byte, opts *Options) (*Result, error) {
			res := &Result{Platform: "sim", Version: 1}
			res.addMeas(MeasManifest, raw[len(magic):])
			if len(raw) == len(magic) {
				return res, res.Fail("sim.parse", ErrMalformed)
			}
			res.Pass("sim.parse", "ok")
			res.Accepted = true
			return res, nil
		},
	})
	if !slices.Contains(Recognizers(), "test-evidence") || Recognizers()[0] != "test-evidence" {
		t.Fatalf("recognizers %v", Recognizers())
	}
	res, err := VerifyEvidence(t.Context(), append(slices.Clone(magic), 1, 2), nil)
	if err != nil || res.Platform != "sim" {
		t.Fatalf("custom evidence: %v %+v", err, res)
	}
	if m, ok := res.Measurement(MeasManifest); !ok || !bytes.Equal(m, []byte{1, 2}) {
		t.Errorf("manifest measurement %x", m)
	}
	if _, err := VerifyEvidence(t.Context(), magic, nil); FailedCheck(err) != "sim.parse" {
		t.Errorf("custom rejection: %v", err)
	}
	// Built-in kinds still dispatch; garbage is unrecognized.
	if _, err := VerifyEvidence(t.Context(), []byte("garbage"), nil); !errors.Is(err, ErrUnrecognized) || FailedCheck(err) != "evidence.format" {
		t.Errorf("garbage: %v", err)
	}
}

// fakeFetcher serves collateral from memory; it stands in for PCS/KDS.
type fakeFetcher struct {
	intel *Collateral
	snp   []*x509.Certificate
	calls []string
}

func (f *fakeFetcher) IntelCollateral(_ context.Context, tee string, fmspc, pceid []byte, ca string) (*Collateral, error) {
	f.calls = append(f.calls, tee+"/"+ca)
	return f.intel, nil
}

func (f *fakeFetcher) SNPCertificates(_ context.Context, product string, chipID []byte, tcb uint64) ([]*x509.Certificate, error) {
	f.calls = append(f.calls, "snp/"+product)
	if f.snp == nil {
		return nil, errors.New("not found")
	}
	return f.snp, nil
}

func TestFetcher(t *testing.T) {
	at := mustTime(t, tdxSample.at)
	f := &fakeFetcher{intel: tdxSample.opts(t).Collateral}
	res, err := tdxSample.verify(t, nil, &Options{Now: func() time.Time { return at }, Fetcher: f})
	if err != nil || res.TCBStatus != TCBUpToDate {
		t.Fatalf("with fetcher: %v %s", err, res.TCBStatus)
	}
	if !slices.Equal(f.calls, []string{"TDX/platform"}) {
		t.Errorf("fetch calls %v", f.calls)
	}
	// SNP v2 reports carry no CPUID; the fetcher is still asked.
	f = &fakeFetcher{snp: snpVCEK.opts(t).Collateral.Certs}
	snpAt := mustTime(t, snpVCEK.at)
	if _, err := snpVCEK.verify(t, nil, &Options{Now: func() time.Time { return snpAt }, Fetcher: f}); err != nil {
		t.Fatalf("SNP with fetcher: %v", err)
	}
}

func BenchmarkVerifySGXQuote(b *testing.B) {
	raw := readTestdata(b, sgxSample.evidence)
	opts := sgxSample.opts(b)
	for b.Loop() {
		if _, err := VerifyQuote(b.Context(), raw, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySNPReport(b *testing.B) {
	raw := readTestdata(b, snpVCEK.evidence)
	opts := snpVCEK.opts(b)
	for b.Loop() {
		if _, err := VerifySNPReport(b.Context(), raw, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseQuote(b *testing.B) {
	raw := readTestdata(b, tdxSample.evidence)
	for b.Loop() {
		if _, err := ParseQuote(raw); err != nil {
			b.Fatal(err)
		}
	}
}
