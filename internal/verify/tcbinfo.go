package verify

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TCBInfo is Intel's TCB info (id SGX or TDX, version 2 or 3).
type TCBInfo struct {
	ID                      string           `json:"id"`
	Version                 int              `json:"version"`
	IssueDate               time.Time        `json:"issueDate"`
	NextUpdate              time.Time        `json:"nextUpdate"`
	FMSPC                   string           `json:"fmspc"`
	PCEID                   string           `json:"pceId"`
	TCBType                 int              `json:"tcbType"`
	TCBEvaluationDataNumber int              `json:"tcbEvaluationDataNumber"`
	TDXModule               *TDXModule       `json:"tdxModule,omitempty"`
	TDXModuleIdentities     []TDXModuleIdent `json:"tdxModuleIdentities,omitempty"`
	TCBLevels               []TCBLevel       `json:"tcbLevels"`
}

// TDXModule describes the expected TDX module signer and attributes.
type TDXModule struct {
	MRSigner       hexBytes `json:"mrsigner"`
	Attributes     hexBytes `json:"attributes"`
	AttributesMask hexBytes `json:"attributesMask"`
}

// TDXModuleIdent is one entry of tdxModuleIdentities (TCB info v3).
type TDXModuleIdent struct {
	ID string `json:"id"`
	TDXModule
	TCBLevels []ISVSVNLevel `json:"tcbLevels"`
}

// ISVSVNLevel is one TCB level keyed by a single ISV SVN: the levels of a
// TDX module identity and of a quoting enclave's identity.
type ISVSVNLevel struct {
	TCB struct {
		ISVSVN int `json:"isvsvn"`
	} `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs"`
}

// TCBLevel is one platform TCB level.
type TCBLevel struct {
	TCB struct {
		SGXComponents []struct {
			SVN int `json:"svn"`
		} `json:"sgxtcbcomponents"`
		PCESVN        int `json:"pcesvn"`
		TDXComponents []struct {
			SVN int `json:"svn"`
		} `json:"tdxtcbcomponents"`
	} `json:"tcb"`
	TCBDate     string   `json:"tcbDate"`
	TCBStatus   string   `json:"tcbStatus"`
	AdvisoryIDs []string `json:"advisoryIDs"`
}

// QEIdentity is Intel's enclave identity of the (TD) quoting enclave.
type QEIdentity struct {
	ID                      string        `json:"id"`
	Version                 int           `json:"version"`
	IssueDate               time.Time     `json:"issueDate"`
	NextUpdate              time.Time     `json:"nextUpdate"`
	TCBEvaluationDataNumber int           `json:"tcbEvaluationDataNumber"`
	MiscSelect              hexBytes      `json:"miscselect"`
	MiscSelectMask          hexBytes      `json:"miscselectMask"`
	Attributes              hexBytes      `json:"attributes"`
	AttributesMask          hexBytes      `json:"attributesMask"`
	MRSigner                hexBytes      `json:"mrsigner"`
	ISVProdID               int           `json:"isvprodid"`
	TCBLevels               []ISVSVNLevel `json:"tcbLevels"`
}

// hexBytes decodes a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("bad hex %q: %w", s, err)
	}
	*h = v
	return nil
}

// ParseTCBInfo decodes and sanity-checks a tcbInfo body (not its signature).
func ParseTCBInfo(body []byte) (*TCBInfo, error) {
	var t TCBInfo
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("%w: tcbInfo: %v", ErrMalformed, err)
	}
	if t.ID != "SGX" && t.ID != "TDX" && t.ID != "" {
		return nil, fmt.Errorf("%w: tcbInfo id %q", ErrUnsupported, t.ID)
	}
	if t.Version != 2 && t.Version != 3 {
		return nil, fmt.Errorf("%w: tcbInfo version %d (want 2 or 3)", ErrUnsupported, t.Version)
	}
	if t.ID == "" { // version 2 has no id: it is SGX unless tdxModule is present
		t.ID = "SGX"
		if t.TDXModule != nil {
			t.ID = "TDX"
		}
	}
	if t.TCBType != 0 {
		return nil, fmt.Errorf("%w: tcbInfo tcbType %d (only 0: SVNs compared component by component)", ErrUnsupported, t.TCBType)
	}
	if len(t.TCBLevels) == 0 {
		return nil, fmt.Errorf("%w: tcbInfo has no tcbLevels", ErrMalformed)
	}
	for i, l := range t.TCBLevels {
		if len(l.TCB.SGXComponents) != 16 {
			return nil, fmt.Errorf("%w: tcbInfo level %d has %d sgxtcbcomponents, want 16", ErrMalformed, i, len(l.TCB.SGXComponents))
		}
		if t.ID == "TDX" && len(l.TCB.TDXComponents) != 16 {
			return nil, fmt.Errorf("%w: tcbInfo level %d has %d tdxtcbcomponents, want 16", ErrMalformed, i, len(l.TCB.TDXComponents))
		}
		if !knownTCBStatus(l.TCBStatus) {
			return nil, fmt.Errorf("%w: tcbInfo level %d status %q", ErrMalformed, i, l.TCBStatus)
		}
	}
	return &t, nil
}

// ParseQEIdentity decodes and sanity-checks an enclaveIdentity body.
func ParseQEIdentity(body []byte) (*QEIdentity, error) {
	var q QEIdentity
	if err := json.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("%w: enclaveIdentity: %v", ErrMalformed, err)
	}
	if q.ID != "QE" && q.ID != "TD_QE" {
		return nil, fmt.Errorf("%w: enclaveIdentity id %q (want QE or TD_QE)", ErrUnsupported, q.ID)
	}
	if len(q.MiscSelect) != 4 || len(q.MiscSelectMask) != 4 || len(q.Attributes) != 16 ||
		len(q.AttributesMask) != 16 || len(q.MRSigner) != 32 {
		return nil, fmt.Errorf("%w: enclaveIdentity field sizes (miscselect 4, attributes 16, mrsigner 32)", ErrMalformed)
	}
	if len(q.TCBLevels) == 0 {
		return nil, fmt.Errorf("%w: enclaveIdentity has no tcbLevels", ErrMalformed)
	}
	for i, l := range q.TCBLevels {
		if !knownTCBStatus(l.TCBStatus) {
			return nil, fmt.Errorf("%w: enclaveIdentity level %d status %q", ErrMalformed, i, l.TCBStatus)
		}
	}
	return &q, nil
}

func validAt(issue, next time.Time, now time.Time, what string) error {
	if now.Before(issue) || now.After(next) {
		return fmt.Errorf("%w: %s valid %s .. %s, now %s", ErrExpired, what,
			issue.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// matchPlatformLevel returns the first TCB level (levels are ordered best
// first) whose every SGX component SVN and PCESVN are ≤ the PCK's, and, for
// TDX, whose TDX components are ≤ TEE_TCB_SVN. With TDX module identities (v3)
// and TEE_TCB_SVN[1] > 0 the first two TDX components are judged by the
// module identity instead and skipped here.
func matchPlatformLevel(t *TCBInfo, pck *PCKExtensions, teeTCBSVN *[16]byte) (*TCBLevel, error) {
	for i := range t.TCBLevels {
		l := &t.TCBLevels[i]
		ok := int(pck.PCESVN) >= l.TCB.PCESVN
		for j := 0; ok && j < 16; j++ {
			ok = int(pck.CompSVN[j]) >= l.TCB.SGXComponents[j].SVN
		}
		if ok && teeTCBSVN != nil {
			start := 0
			if t.Version >= 3 && len(t.TDXModuleIdentities) > 0 && teeTCBSVN[1] > 0 {
				start = 2
			}
			for j := start; ok && j < 16; j++ {
				ok = int(teeTCBSVN[j]) >= l.TCB.TDXComponents[j].SVN
			}
		}
		if ok {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w: PCK TCB %v PCESVN %d is below every one of the %d levels of tcbInfo FMSPC %s",
		ErrTCBLevelNotFound, pck.CompSVN, pck.PCESVN, len(t.TCBLevels), t.FMSPC)
}

// matchTDXModule checks MRSIGNERSEAM / SEAMATTRIBUTES against the TCB info's
// module description and returns the module's status and advisories
// (empty status when the TCB info has no module identities).
func matchTDXModule(t *TCBInfo, td *TDReportBody, svn [16]byte) (TCBStatus, []string, string, error) {
	check := func(m *TDXModule, what string) error {
		if len(m.MRSigner) != 48 || !bytes.Equal(m.MRSigner, td.MRSignerSeam[:]) {
			return fmt.Errorf("%w: %s mrsigner %x, MRSIGNERSEAM %x", ErrMismatch, what, []byte(m.MRSigner), td.MRSignerSeam[:])
		}
		if len(m.Attributes) != 8 || len(m.AttributesMask) != 8 {
			return fmt.Errorf("%w: %s attributes must be 8 bytes", ErrMalformed, what)
		}
		for i := 0; i < 8; i++ {
			if td.SeamAttributes[i]&m.AttributesMask[i] != m.Attributes[i]&m.AttributesMask[i] {
				return fmt.Errorf("%w: %s SEAMATTRIBUTES %x do not match %x under mask %x", ErrMismatch, what, td.SeamAttributes[:], []byte(m.Attributes), []byte(m.AttributesMask))
			}
		}
		return nil
	}
	if t.TDXModule != nil {
		if err := check(t.TDXModule, "tdxModule"); err != nil {
			return "", nil, "", err
		}
	}
	if t.Version < 3 || len(t.TDXModuleIdentities) == 0 || svn[1] == 0 {
		return "", nil, "", nil
	}
	id := fmt.Sprintf("TDX_%02X", svn[1])
	for i := range t.TDXModuleIdentities {
		mi := &t.TDXModuleIdentities[i]
		if !strings.EqualFold(mi.ID, id) {
			continue
		}
		if err := check(&mi.TDXModule, "tdxModuleIdentity "+id); err != nil {
			return "", nil, id, err
		}
		for _, l := range mi.TCBLevels {
			if int(svn[0]) >= l.TCB.ISVSVN {
				if !knownTCBStatus(l.TCBStatus) {
					return "", nil, id, fmt.Errorf("%w: module %s level status %q", ErrMalformed, id, l.TCBStatus)
				}
				return TCBStatus(l.TCBStatus), l.AdvisoryIDs, id, nil
			}
		}
		return "", nil, id, fmt.Errorf("%w: TDX module %s SVN %d is below every level", ErrTCBLevelNotFound, id, svn[0])
	}
	return "", nil, id, fmt.Errorf("%w: TDX module identity %s not in tcbInfo", ErrTCBLevelNotFound, id)
}

// matchQEIdentity checks the QE report against the identity and returns the
// QE's TCB status and advisories.
func matchQEIdentity(qi *QEIdentity, qe *SGXReportBody) (TCBStatus, []string, error) {
	if !bytes.Equal(qi.MRSigner, qe.MRSigner[:]) {
		return "", nil, fmt.Errorf("%w: QE MRSIGNER %x, identity %x", ErrMismatch, qe.MRSigner[:], []byte(qi.MRSigner))
	}
	if int(qe.ISVProdID) != qi.ISVProdID {
		return "", nil, fmt.Errorf("%w: QE ISVPRODID %d, identity %d", ErrMismatch, qe.ISVProdID, qi.ISVProdID)
	}
	var ms [4]byte
	ms[0], ms[1], ms[2], ms[3] = byte(qe.MiscSelect), byte(qe.MiscSelect>>8), byte(qe.MiscSelect>>16), byte(qe.MiscSelect>>24)
	// miscselect is written big-endian in the JSON (as a 32-bit hex number).
	for i := 0; i < 4; i++ {
		if ms[3-i]&qi.MiscSelectMask[i] != qi.MiscSelect[i]&qi.MiscSelectMask[i] {
			return "", nil, fmt.Errorf("%w: QE MISCSELECT %08x does not match %x under mask %x", ErrMismatch, qe.MiscSelect, []byte(qi.MiscSelect), []byte(qi.MiscSelectMask))
		}
	}
	for i := 0; i < 16; i++ {
		if qe.Attributes[i]&qi.AttributesMask[i] != qi.Attributes[i]&qi.AttributesMask[i] {
			return "", nil, fmt.Errorf("%w: QE ATTRIBUTES %x do not match %x under mask %x", ErrMismatch, qe.Attributes[:], []byte(qi.Attributes), []byte(qi.AttributesMask))
		}
	}
	for _, l := range qi.TCBLevels {
		if int(qe.ISVSVN) >= l.TCB.ISVSVN {
			return TCBStatus(l.TCBStatus), l.AdvisoryIDs, nil
		}
	}
	return "", nil, fmt.Errorf("%w: QE ISVSVN %d is below every QE identity level", ErrTCBLevelNotFound, qe.ISVSVN)
}

// convergeStatus folds the QE's or TDX module's status into the platform
// status (Intel QVL rules): an out-of-date component makes the result
// OutOfDate (or OutOfDateConfigurationNeeded when configuration was needed),
// a revoked component makes it Revoked.
func convergeStatus(platform, other TCBStatus) TCBStatus {
	switch other {
	case TCBRevoked:
		return TCBRevoked
	case TCBOutOfDate, TCBOutOfDateConfigurationNeeded:
		switch platform {
		case TCBUpToDate, TCBSWHardeningNeeded:
			return TCBOutOfDate
		case TCBConfigurationNeeded, TCBConfigurationAndSWHardeningNeeded:
			return TCBOutOfDateConfigurationNeeded
		}
	}
	return platform
}

func appendUnique(dst []string, src ...string) []string {
	for _, s := range src {
		dup := false
		for _, d := range dst {
			if d == s {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst
}
