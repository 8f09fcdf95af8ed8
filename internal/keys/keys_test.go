package keys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStoreSetGetNames(t *testing.T) {
	s := New()
	if _, ok := s.Get("default"); ok {
		t.Fatal("empty store has a key")
	}
	s.Declare("default")
	if !s.Declared("default") || s.Declared("other") {
		t.Fatal("Declared wrong")
	}
	if _, ok := s.Get("default"); ok {
		t.Fatal("declared key has a value")
	}
	k := [Size]byte{1, 2, 3}
	s.Set("b", k)
	s.Declare("b") // must keep the value
	if got, ok := s.Get("b"); !ok || got != k {
		t.Fatalf("Get = %x %v", got, ok)
	}
	if n := s.Names(); len(n) != 2 || n[0] != "b" || n[1] != "default" {
		t.Fatalf("Names = %v", n)
	}
}

func TestChangedWakesWaiter(t *testing.T) {
	s := New()
	got := make(chan [Size]byte)
	go func() {
		for {
			ch := s.Changed()
			if k, ok := s.Get("late"); ok {
				got <- k
				return
			}
			<-ch
		}
	}()
	time.Sleep(10 * time.Millisecond)
	s.Set("other", [Size]byte{9})
	s.Set("late", [Size]byte{7})
	select {
	case k := <-got:
		if k[0] != 7 {
			t.Fatalf("waiter got %x", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken")
	}
}

func TestConcurrent(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				s.Set("k", [Size]byte{byte(i), byte(j)})
				s.Get("k")
				s.Names()
			}
		}()
	}
	wg.Wait()
}

func TestParseWrite(t *testing.T) {
	want := bytes.Repeat([]byte{0xab}, 16)
	k, err := ParseWrite(want)
	if err != nil || !bytes.Equal(k[:], want) {
		t.Fatalf("ParseWrite = %x, %v", k, err)
	}
	// Gramine takes only 16 raw bytes: hex text, a trailing newline and
	// short or long writes are refused.
	for _, bad := range [][]byte{nil, want[:15], append(want, '\n'), []byte("000102030405060708090a0b0c0d0e0f")} {
		if _, err := ParseWrite(bad); !errors.Is(err, ErrBadWrite) {
			t.Errorf("ParseWrite(%d bytes) = %v, want ErrBadWrite", len(bad), err)
		}
	}
}

func TestParseHex(t *testing.T) {
	k, err := ParseHex("FFeeddccbbaa99887766554433221100")
	if err != nil || k[0] != 0xff || k[15] != 0 {
		t.Fatalf("ParseHex = %x, %v", k, err)
	}
	for _, bad := range []string{"", "ffeeddccbbaa9988776655443322110", "ffeeddccbbaa998877665544332211000", "gfeeddccbbaa99887766554433221100"} {
		if _, err := ParseHex(bad); !errors.Is(err, ErrBadHex) {
			t.Errorf("ParseHex(%q) = %v, want ErrBadHex", bad, err)
		}
	}
}

func FuzzParseWrite(f *testing.F) {
	f.Add([]byte("0123456789abcdef"))
	f.Add([]byte("000102030405060708090a0b0c0d0e0f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseWrite(data)
		if (err == nil) != (len(data) == Size) {
			t.Fatalf("ParseWrite(%d bytes) err = %v", len(data), err)
		}
		if err == nil && !bytes.Equal(k[:], data) {
			t.Fatal("key differs from the written bytes")
		}
	})
}

func FuzzParseHex(f *testing.F) {
	f.Add("ffeeddccbbaa99887766554433221100")
	f.Add("FFEEDDCCBBAA9988776655443322110g")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHex(s)
		if err != nil {
			return
		}
		if got := fmt.Sprintf("%x", k[:]); !strings.EqualFold(got, s) {
			t.Fatalf("ParseHex(%q) = %s", s, got)
		}
	})
}
