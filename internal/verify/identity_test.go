package verify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQEIdentityMatch(t *testing.T) {
	q, err := ParseQuote(readTestdata(t, sgxSample.evidence))
	if err != nil {
		t.Fatal(err)
	}
	body := string(sgxSample.opts(t).Collateral.QEIdentities[0].Body)
	for _, c := range []struct {
		name, old, new string
		want           error
		status         TCBStatus
	}{
		{"genuine", "", "", nil, TCBUpToDate},
		{"mrsigner", `"mrsigner":"8C`, `"mrsigner":"9C`, ErrMismatch, ""},
		{"isvprodid", `"isvprodid":1`, `"isvprodid":2`, ErrMismatch, ""},
		{"attributes", `"attributes":"11`, `"attributes":"13`, ErrMismatch, ""},
		{"attributes outside mask", `"attributes":"11000000000000000000000000000000"`, `"attributes":"11000000000000000000000000000001"`, nil, TCBUpToDate},
		{"miscselect", `"miscselect":"00000000"`, `"miscselect":"00000001"`, ErrMismatch, ""},
		{"QE too old", `{"tcb":{"isvsvn":8}`, `{"tcb":{"isvsvn":11}`, nil, TCBOutOfDate},
		{"no level", `"isvsvn":1}`, `"isvsvn":99}`, nil, ""},
	} {
		b := body
		if c.old != "" {
			b = strings.Replace(body, c.old, c.new, 1)
			if b == body {
				t.Fatalf("%s: edit did not apply", c.name)
			}
		}
		if c.name == "no level" {
			b = strings.NewReplacer(`"isvsvn":8}`, `"isvsvn":99}`, `"isvsvn":6}`, `"isvsvn":99}`, `"isvsvn":5}`, `"isvsvn":99}`,
				`"isvsvn":4}`, `"isvsvn":99}`, `"isvsvn":2}`, `"isvsvn":99}`, `"isvsvn":1}`, `"isvsvn":99}`).Replace(body)
			c.want = ErrTCBLevelNotFound
		}
		qi, err := ParseQEIdentity([]byte(b))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		st, _, err := matchQEIdentity(qi, &q.QEReport)
		if c.want != nil {
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			continue
		}
		if err != nil || st != c.status {
			t.Errorf("%s: %s %v, want %s", c.name, st, err, c.status)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	for _, b := range []string{
		`not json`,
		`{"id":"SGX","version":4,"tcbLevels":[]}`,
		`{"id":"XYZ","version":3}`,
		`{"id":"SGX","version":3,"tcbLevels":[]}`,
		`{"id":"SGX","version":3,"tcbType":1,"tcbLevels":[]}`,
		`{"id":"SGX","version":3,"tcbLevels":[{"tcb":{"sgxtcbcomponents":[]},"tcbStatus":"UpToDate"}]}`,
	} {
		if _, err := ParseTCBInfo([]byte(b)); err == nil {
			t.Errorf("tcbInfo %s accepted", b)
		}
	}
	for _, b := range []string{
		`[]`,
		`{"id":"QE3"}`,
		`{"id":"QE","miscselect":"00"}`,
		`{"id":"QE","miscselect":"zz"}`,
		`{"id":"QE","miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF","tcbLevels":[{"tcb":{"isvsvn":1},"tcbStatus":"Fine"}]}`,
	} {
		if _, err := ParseQEIdentity([]byte(b)); err == nil {
			t.Errorf("QE identity %s accepted", b)
		}
	}
}

// A PCS tcbInfo response comes without its issuer chain; the chain may come
// from another file, and an expired TCB Signing issue is replaced by a
// current re-issue with the same key when both are given.
func TestTCBSigningChainSources(t *testing.T) {
	at := mustTime(t, "2025-11-10T00:00:00Z")
	raw := readTestdata(t, "tdx/trustee/tdx_quote_6.dat")
	load := func(files ...string) *Options {
		col, err := LoadCollateral(files...)
		if err != nil {
			t.Fatal(err)
		}
		return &Options{Now: func() time.Time { return at }, Collateral: col, AllowMissingCollateral: true}
	}
	pcs := []string{"testdata/tdx/trustee/tcbInfo.json", "testdata/tdx/trustee/enclaveIdentity.json"}

	// No chain at all: fails, or is skipped when allowed.
	opts := load(pcs...)
	opts.AllowMissingCollateral = false
	if _, err := VerifyEvidence(t.Context(), raw, opts); FailedCheck(err) != "crl.root" {
		t.Errorf("no collateral chain, strict: %v", err)
	}
	res, err := VerifyEvidence(t.Context(), raw, load(pcs...))
	if err != nil || !hasSkipped(res, "tcb_info.signature") {
		t.Errorf("no chain, allowed: %v %+v", err, res.Checks)
	}
	// Only the old TCB Signing issue (expired 2025-05-21).
	_, err = VerifyEvidence(t.Context(), raw, load(append(pcs, "testdata/tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")...))
	if FailedCheck(err) != "tcb_info.signature" || !errors.Is(err, ErrExpired) {
		t.Errorf("expired signer: %v", err)
	}
	// The document names the old issue as its chain; a re-issue with the
	// same name among the collateral is used instead.
	opts = load(append(pcs, "testdata/tdx/go-tdx-guest/tcbinfo_issuer_chain.pem")...)
	old := opts.Collateral.Certs
	bundle := load("testdata/tdx/dcap-qvl/tdx_quote_collateral.json").Collateral
	for _, c := range bundle.Certs {
		if c.Subject.CommonName == "Intel SGX TCB Signing" {
			opts.Collateral.Certs = append(opts.Collateral.Certs, c)
		}
	}
	for i := range opts.Collateral.TCBInfos {
		opts.Collateral.TCBInfos[i].Chain = old
	}
	res, err = VerifyEvidence(t.Context(), raw, opts)
	if err != nil || res.TCBStatus != TCBOutOfDate {
		t.Errorf("with re-issued signer: %v (status %s)", err, res.TCBStatus)
	}
}

func hasSkipped(res *Result, name string) bool {
	for _, c := range res.Checks {
		if c.Name == name && c.Skipped {
			return true
		}
	}
	return false
}
