package policy_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nacre-tee/nacre/internal/policy"
	"github.com/nacre-tee/nacre/internal/verify"
)

// Verify a TDX quote with its collateral at a pinned time and require its MRTD.
func ExamplePolicy_Check() {
	dir := "../verify/testdata/tdx/dcap-qvl/"
	raw, err := os.ReadFile(dir + "tdx_quote")
	if err != nil {
		panic(err)
	}
	col, err := verify.LoadCollateral(dir + "tdx_quote_collateral.json")
	if err != nil {
		panic(err)
	}
	var mrtd policy.Hex
	_ = mrtd.UnmarshalText([]byte("91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"))
	p := &policy.Policy{Platforms: []string{"tdx"}, MRTD: []policy.Hex{mrtd}}
	at := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	res, err := p.Check(context.Background(), raw, &verify.Options{Collateral: col, Now: func() time.Time { return at }})
	if err != nil {
		fmt.Println("rejected by", verify.FailedCheck(err))
		return
	}
	fmt.Println(res.Platform, res.Version, res.TCBStatus, res.Accepted)
	// Output: tdx 4 UpToDate true
}
