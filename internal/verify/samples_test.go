package verify

import (
	"encoding/hex"
	"errors"
	"slices"
	"testing"
)

func TestGenuineSamples(t *testing.T) {
	tests := []struct {
		s          sample
		platform   Platform
		version    int
		status     TCBStatus
		advisories []string
		failed     string // expected failed check, "" = accepted
		meas       map[string]string
		reportData string // hex prefix
		debug      bool
	}{
		{s: sgxSample, platform: PlatformSGX, version: 3, status: TCBConfigurationAndSWHardeningNeeded,
			advisories: []string{"INTEL-SA-00289", "INTEL-SA-00615"},
			meas: map[string]string{
				MeasMREnclave: "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
				MeasMRSigner:  "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"},
			reportData: hex.EncodeToString([]byte("Hello, world!\x00"))},
		{s: tdxSample, platform: PlatformTDX, version: 4, status: TCBUpToDate,
			meas: map[string]string{MeasMRTD: "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
				MeasRTMR3: "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"},
			reportData: "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20"},
		// README: no tcbLevel matches (SEAMLDR ACM SVN 3 < 5).
		{s: tdx5, platform: PlatformTDX, version: 5, failed: "tcb.level",
			meas:       map[string]string{MeasMRTD: "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd"},
			reportData: "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728"},
		// go-tdx-guest's own test: "no matching TCB level found".
		{s: gtgSample, platform: PlatformTDX, version: 4, failed: "tcb.level",
			meas:       map[string]string{MeasMRTD: "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb"},
			reportData: "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545"},
		{s: snpVCEK, platform: PlatformSNP, version: 2, debug: true,
			meas:       map[string]string{MeasSNP: "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"},
			reportData: "0102030405000000"},
		{s: snpVLEK, platform: PlatformSNP, version: 3,
			meas: map[string]string{MeasSNP: "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0"}},
	}
	for _, tc := range tests {
		t.Run(tc.s.name, func(t *testing.T) {
			res, err := tc.s.verify(t, nil, nil)
			if tc.failed == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if !res.Accepted {
					t.Fatal("Accepted is false without an error")
				}
			} else {
				if got := FailedCheck(err); got != tc.failed {
					t.Fatalf("failed check %q (%v), want %q", got, err, tc.failed)
				}
				if !errors.Is(err, ErrRejected) || res.Accepted {
					t.Fatalf("rejection does not match ErrRejected or Accepted set: %v", err)
				}
			}
			if res.Platform != tc.platform || res.Version != tc.version {
				t.Errorf("platform %s v%d, want %s v%d", res.Platform, res.Version, tc.platform, tc.version)
			}
			if res.TCBStatus != tc.status && !(tc.platform == PlatformSNP && res.TCBStatus == "") {
				t.Errorf("TCB status %q, want %q", res.TCBStatus, tc.status)
			}
			if !slices.Equal(res.AdvisoryIDs, tc.advisories) {
				t.Errorf("advisories %v, want %v", res.AdvisoryIDs, tc.advisories)
			}
			for name, want := range tc.meas {
				got, ok := res.Measurement(name)
				if !ok || hex.EncodeToString(got) != want {
					t.Errorf("%s = %x, want %s", name, got, want)
				}
			}
			if got := hex.EncodeToString(res.ReportData); len(got) < len(tc.reportData) || got[:len(tc.reportData)] != tc.reportData {
				t.Errorf("report data %s, want prefix %s", got, tc.reportData)
			}
			if res.Debug != tc.debug {
				t.Errorf("debug %v, want %v", res.Debug, tc.debug)
			}
			for _, c := range res.Checks {
				if !c.OK && c.Name != tc.failed {
					t.Errorf("check %s failed but verification reported %q", c.Name, tc.failed)
				}
			}
		})
	}
}

func TestSNPProductAndTCB(t *testing.T) {
	res, err := snpVCEK.verify(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Product != "Milan" {
		t.Errorf("product %q, want Milan", res.Product)
	}
	r := res.Details.(*SNPReport)
	if got := DecodeSNPTCB(r.ReportedTCB, "Milan"); got != (SNPTCB{BootLoader: 2, TEE: 0, SNP: 5, Microcode: 68}) {
		t.Errorf("reported TCB %v", got)
	}
	if r.ReportedTCB != 0x4405000000000002 || r.PlatformInfo != 1 || r.Policy != 0xb0000 || r.VMPL != 0 {
		t.Errorf("fields: tcb %#x platform_info %#x policy %#x vmpl %d", r.ReportedTCB, r.PlatformInfo, r.Policy, r.VMPL)
	}
	if got := DecodeSNPTCB(0x1100000003020100, "Turin"); got != (SNPTCB{FMC: 0, BootLoader: 1, TEE: 2, SNP: 3, Microcode: 0x11}) {
		t.Errorf("Turin layout: %v", got)
	}
	vlek, err := snpVLEK.verify(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vr := vlek.Details.(*SNPReport); vr.VMPL != 1 || vr.SigningKey() != snpKeyVLEK || vr.CPUIDFamily != 0x19 {
		t.Errorf("VLEK report fields: vmpl %d key %d family %#x", vr.VMPL, vr.SigningKey(), vr.CPUIDFamily)
	}
}

func TestPCKExtensions(t *testing.T) {
	q, err := ParseQuote(readTestdata(t, gtgSample.evidence))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseStrictPEMChain(q.CertData)
	if err != nil {
		t.Fatal(err)
	}
	x, err := ParsePCKExtensions(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	// Values asserted by go-tdx-guest's tests for this quote.
	if hex.EncodeToString(x.FMSPC) != "50806f000000" || hex.EncodeToString(x.PCEID) != "0000" || x.PCESVN != 11 ||
		hex.EncodeToString(x.CPUSVN) != "03030202020100020000000000000000" ||
		hex.EncodeToString(x.PPID) != "089ddfdb9c0359c82a3bc7719239574e" {
		t.Errorf("PCK extensions: %+v", x)
	}
	if q.TD == nil || q.QEReport.ISVSVN != 4 || q.QEReport.ISVProdID != 2 {
		t.Errorf("QE report ISVSVN %d ISVPRODID %d", q.QEReport.ISVSVN, q.QEReport.ISVProdID)
	}
	// trustee's tdx_quote_6: SGX type 2, TCB 2,2,7,7,4,1,0,2 PCESVN 11.
	q6, err := ParseQuote(readTestdata(t, "tdx/trustee/tdx_quote_6.dat"))
	if err != nil {
		t.Fatal(err)
	}
	c6, err := parseStrictPEMChain(q6.CertData)
	if err != nil {
		t.Fatal(err)
	}
	x6, err := ParsePCKExtensions(c6[0])
	if err != nil {
		t.Fatal(err)
	}
	if x6.SGXType != 2 || x6.PCESVN != 11 || x6.CompSVN != [16]byte{2, 2, 7, 7, 4, 1, 0, 2} || len(x6.PlatformID) != 16 {
		t.Errorf("tdx_quote_6 PCK: %+v", x6)
	}
}
