package verify

import (
	"strings"
	"testing"
)

// tdxEval parses a sample quote and evaluates an edited (unsigned) copy of
// its tcbInfo, the way dcap-qvl's tests edit collateral.
func tdxEval(t *testing.T, s sample, edit func(string) string) (TCBStatus, []string, error) {
	t.Helper()
	q, err := ParseTDXQuote(readTestdata(t, s.evidence))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseStrictPEMChain(q.CertData)
	if err != nil {
		t.Fatal(err)
	}
	pck, err := ParsePCKExtensions(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	body := string(s.opts(t).Collateral.TCBInfos[0].Body)
	edited := edit(body)
	ti, err := ParseTCBInfo([]byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	v := &intelVerifier{q: q, res: &Result{}, pck: pck}
	status, adv, err := v.evaluateTDX(ti, q.TD.TEETCBSVN, "tcb.level", "tdx.module")
	if err == nil && q.TD.TD15 {
		_, _, err = v.evaluateTDX(ti, q.TD.TEETCBSVN2, "tdx.current_tcb", "tdx.current_tcb")
	}
	return status, adv, err
}

// dcap-qvl: after inserting an all-zero UpToDate level first, the v5
// "outdated" quote is UpToDate (TDX_01 module, TEE_TCB_SVN 7 ≥ 6).
func TestTDX15PermissiveLevel(t *testing.T) {
	zeros := strings.Repeat(`{"svn":0},`, 15) + `{"svn":0}`
	level := `{"tcb":{"sgxtcbcomponents":[` + zeros + `],"pcesvn":0,"tdxtcbcomponents":[` + zeros + `]},"tcbDate":"2024-11-13T00:00:00Z","tcbStatus":"UpToDate"},`
	status, adv, err := tdxEval(t, tdx5, func(b string) string {
		return strings.Replace(b, `"tcbLevels":[{"tcb":{"sgxtcbcomponents"`, `"tcbLevels":[`+level+`{"tcb":{"sgxtcbcomponents"`, 1)
	})
	if err != nil || status != TCBUpToDate || len(adv) != 0 {
		t.Fatalf("permissive level: %s %v %v", status, adv, err)
	}
	// Unedited: no level matches.
	if _, _, err := tdxEval(t, tdx5, func(b string) string { return b }); FailedCheck(err) != "tcb.level" {
		t.Fatalf("unedited: %v", err)
	}
}

// dcap-qvl: with every level's status overridden to OutOfDate, tdx_quote's
// status is OutOfDate.
func TestTDXAllLevelsOutOfDate(t *testing.T) {
	status, _, err := tdxEval(t, tdxSample, func(b string) string {
		return strings.ReplaceAll(b, `"tcbStatus":"UpToDate"`, `"tcbStatus":"OutOfDate"`)
	})
	if err != nil || status != TCBOutOfDate {
		t.Fatalf("status %s, err %v", status, err)
	}
	// Only the module out of date: OutOfDate too (QVL convergence).
	status, _, err = tdxEval(t, tdxSample, func(b string) string {
		i := strings.Index(b, `"tdxModuleIdentities"`)
		j := strings.Index(b[i:], `"tcbLevels":[{"tcb":{"sgxtcbcomponents"`)
		if i < 0 || j < 0 {
			t.Fatal("unexpected tcbInfo layout")
		}
		return b[:i] + strings.ReplaceAll(b[i:i+j], `"tcbStatus":"UpToDate"`, `"tcbStatus":"OutOfDate"`) + b[i+j:]
	})
	if err != nil || status != TCBOutOfDate {
		t.Fatalf("module out of date: status %s, err %v", status, err)
	}
}
