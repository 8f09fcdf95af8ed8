package fileserver

import "testing"

// TestOpStatsCounts: request lines are counted by opcode; replies and other
// debug lines are not.
func TestOpStatsCounts(t *testing.T) {
	st := newOpStats("")
	for _, line := range []string{
		"rx 2: LOOKUP n1 [\"usr\"] 4b p1\n",
		"tx 2:     OK, {n2 g1 tE=1h0m0s tA=1h0m0s {M040755 SZ=4096}}\n",
		"rx 4: LOOKUP n2 [\"bin\"] 4b p1\n",
		"rx 6: READ n5 {Fh 0 [0 +131072)  L 0 RDONLY} p7\n",
		"rx 8: GETATTR n5 {Fh 0} p7\n",
		"doBatchForget: rx 9 1/3: FORGET n5 {Nlookup=1}\n",
		"rx 10\n",
	} {
		if n, err := st.Write([]byte(line)); n != len(line) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", line, n, err)
		}
	}
	if _, ok := st.total["LOOKUP"]; !ok {
		t.Error("the reply to request 2 recorded no LOOKUP time")
	}
	if len(st.pending) != 3 {
		t.Errorf("%d requests pending, want 3 (4, 6, 8)", len(st.pending))
	}
	want := map[string]int{"LOOKUP": 2, "READ": 1, "GETATTR": 1}
	if len(st.count) != len(want) {
		t.Errorf("counts = %v, want %v", st.count, want)
	}
	for op, n := range want {
		if st.count[op] != n {
			t.Errorf("count[%s] = %d, want %d (all: %v)", op, st.count[op], n, st.count)
		}
	}
}
