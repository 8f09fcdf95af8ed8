package secretprov

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nacre-tee/nacre/internal/tee"
)

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	if c, ok, err := FromEnv([]string{"PATH=/bin", EnvConstructor + "=0"}); c != nil || ok || err != nil {
		t.Fatalf("not requested: %v %v %v", c, ok, err)
	}
	if _, ok, err := FromEnv([]string{EnvConstructor + "=true"}); !ok || err == nil || !strings.Contains(err.Error(), EnvCAChainPath) {
		t.Fatalf("missing CA: %v", err)
	}
	c, ok, err := FromEnv([]string{EnvConstructor + "=TRUE", EnvCAChainPath + "=" + p.caPath})
	if err != nil || !ok || len(c.Servers) != 1 || c.Servers[0] != "localhost:4433" || c.KeyName != "" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, _, err = FromEnv([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + p.caPath, EnvServers + "=a:1;b:2, c:3 [::1]:4", EnvSetPFKey + "=1"})
	if err != nil || strings.Join(c.Servers, "|") != "a:1|b:2|c:3|[::1]:4" || c.KeyName != "default" {
		t.Fatalf("servers/pf key: %+v %v", c, err)
	}
	if _, _, err := FromEnv([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + p.caPath, EnvServers + "=nohost"}); err == nil {
		t.Fatal("bad server accepted")
	}
	if _, _, err := FromEnv([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + p.caPath, EnvSetKey + "=../x"}); err == nil {
		t.Fatal("bad key name accepted")
	}
	notPEM := filepath.Join(dir, "x")
	os.WriteFile(notPEM, []byte("nope"), 0o600)
	if _, _, err := FromEnv([]string{EnvConstructor + "=1", EnvCAChainPath + "=" + notPEM}); err == nil {
		t.Fatal("non-PEM CA accepted")
	}
	got := CleanEnv([]string{"A=1", EnvConstructor + "=1", EnvSecretString + "=old", EnvSetKey + "=k"})
	if strings.Join(got, " ") != "A=1 "+EnvSetKey+"=k" {
		t.Fatalf("CleanEnv %q", got)
	}
}

func TestInterpret(t *testing.T) {
	key := &Client{KeyName: "default"}
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{"0123456789abcdef", true},
		{"000102030405060708090a0b0c0d0e0f\x00", true},
		{"000102030405060708090a0b0c0d0e0f", true},
		{"short", false},
		{"zz0102030405060708090a0b0c0d0e0f\x00", false},
	} {
		s := &Secret{Data: []byte(tc.data)}
		if err := key.interpret(s); (err == nil) != tc.ok {
			t.Errorf("key %q: %v", tc.data, err)
		}
	}
	s := &Secret{Data: []byte("000102030405060708090a0b0c0d0e0f\x00")}
	key.interpret(s)
	if s.Key[1] != 1 || s.Key[15] != 15 {
		t.Fatalf("hex key %x", s.Key)
	}
	str := &Client{}
	for _, tc := range []struct {
		data string
		ok   bool
	}{{"abc\x00", true}, {"abc", false}, {"a\x00b\x00", false}, {"", false}, {strings.Repeat("a", 4096) + "\x00", false}} {
		s := &Secret{Data: []byte(tc.data)}
		if err := str.interpret(s); (err == nil) != tc.ok {
			t.Errorf("string %q: %v", tc.data, err)
		}
	}
}

func TestNoTEE(t *testing.T) {
	c := &Client{Servers: []string{"127.0.0.1:1"}}
	if _, err := c.Provision(context.Background(), tee.None{}, [32]byte{}, [32]byte{}); !errors.Is(err, tee.ErrNoTEE) {
		t.Fatal(err)
	}
}

func TestNoServer(t *testing.T) {
	ln := listenClosed(t)
	c := &Client{Servers: []string{ln}, Rounds: 2, Backoff: 1}
	k := newTestSim(t)
	_, err := c.Provision(context.Background(), k, [32]byte{}, [32]byte{})
	if err == nil || !strings.Contains(err.Error(), "could not connect") {
		t.Fatal(err)
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{`bogus = 1`, "unknown key"},
		{`[secrets.a]
hex = "00"`, "no [[rule]]"},
		{`[secrets.a]
hex = "00"
base64 = "AA=="
[[rule]]
secret = "a"`, "exactly one"},
		{`[secrets.a]
hex = "00"
[[rule]]
secret = "b"`, `secret "b" is not defined`},
		{`[secrets.a]
hex = "00"
[[rule]]
measurements = ["abcd"]
secret = "a"`, "64 hex digits"},
		{`[secrets.a]
hex = "00"
[[rule]]
platforms = ["vax"]
secret = "a"`, "unknown platform"},
		{`max_age = "-1s"
[secrets.a]
hex = "00"
[[rule]]
secret = "a"`, "max_age"},
		{`max_age = "5m"
replay_window = "1m"
[secrets.a]
hex = "00"
[[rule]]
secret = "a"`, "replay_window"},
		{`[secrets.a]
file = "missing.bin"
[[rule]]
secret = "a"`, "missing.bin"},
		{`[[rule]
`, "line"},
	} {
		_, err := ParsePolicy([]byte(tc.toml), t.TempDir())
		if err == nil || !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v (want %q)", tc.toml, err, tc.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k.bin"), []byte{1, 2, 3}, 0o600)
	p, err := ParsePolicy([]byte(`[secrets.a]
file = "k.bin"
[secrets.b]
base64 = "AQI="
[[rule]]
secret = "a"`), dir)
	if err != nil || string(p.Secrets["a"]) != "\x01\x02\x03" || string(p.Secrets["b"]) != "\x01\x02" || p.ReplayWindow != p.MaxAge+5*60e9 {
		t.Fatalf("%+v %v", p, err)
	}
}
