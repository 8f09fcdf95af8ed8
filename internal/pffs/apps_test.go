package pffs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// twoWriters: two processes open one file at once; each writes its own
// 100-byte slots and appends lines with O_APPEND.
const twoWriters = `
import os, sys
me = int(sys.argv[2])
fd = os.open(sys.argv[1], os.O_RDWR)
ap = os.open(sys.argv[1] + ".log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
for i in range(me, 4000, 2):
    os.pwrite(fd, (b"%d:%06d;" % (me, i)).ljust(100, b"x"), i * 100)
    if i % 50 == me:
        os.write(ap, b"writer %d line %06d\n" % (me, i))
    if i % 500 == me:
        os.fsync(fd)
os.close(fd)
os.close(ap)
`

func TestTwoProcesses(t *testing.T) {
	m := mountFS(t, Config{HostDir: t.TempDir(), Path: "/enc", CacheNodes: 16})
	p := m.path("shared")
	os.WriteFile(p, nil, 0o600)
	var cmds []*exec.Cmd
	for id := range 2 {
		c := exec.Command("python3", "-c", twoWriters, p, fmt.Sprint(id))
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Skipf("python3: %v", err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(data, log []byte) {
		t.Helper()
		if len(data) != 400000 {
			t.Fatalf("size %d, want 400000", len(data))
		}
		for i := range 4000 {
			want := []byte(fmt.Sprintf("%d:%06d;", i%2, i))
			if !bytes.HasPrefix(data[i*100:], want) {
				t.Fatalf("slot %d = %q", i, data[i*100:i*100+10])
			}
		}
		lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
		if len(lines) != 160 {
			t.Fatalf("%d log lines, want 160", len(lines))
		}
		for _, l := range lines {
			if len(l) != len("writer 0 line 000000") || !strings.HasPrefix(l, "writer ") {
				t.Fatalf("torn log line %q", l)
			}
		}
	}
	data, _ := os.ReadFile(p)
	log, _ := os.ReadFile(p + ".log")
	check(data, log)
	m.unmount(t)
	check(hostRead(t, m, "shared", key1), hostRead(t, m, "shared.log", key1))
}

func TestSQLite(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3")
	}
	host := t.TempDir()
	m := mountFS(t, Config{HostDir: host, Path: "/enc"})
	for _, mode := range []string{"delete", "wal"} {
		db := m.path(mode + ".db")
		script := fmt.Sprintf(`PRAGMA journal_mode=%s;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3000)
INSERT INTO t(v) SELECT printf('row %%d %%s', x, hex(randomblob(40))) FROM c;
BEGIN; UPDATE t SET v = 'updated' WHERE id %% 3 = 0; COMMIT;
BEGIN; DELETE FROM t WHERE id > 2500; ROLLBACK;
SELECT count(*), sum(v = 'updated') FROM t;
PRAGMA integrity_check;
`, mode)
		cmd := exec.Command("sqlite3", db)
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "3000|1000\nok\n") {
			t.Fatalf("sqlite3 (%s): %v\n%s", mode, err, out)
		}
	}
	m.unmount(t)
	m = mountFS(t, Config{HostDir: host, Path: "/enc"})
	for _, mode := range []string{"delete", "wal"} {
		cmd := exec.Command("sqlite3", m.path(mode+".db"), "SELECT count(*) FROM t; PRAGMA integrity_check;")
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "3000\nok\n" {
			t.Fatalf("sqlite3 reopen (%s): %v\n%s", mode, err, out)
		}
	}
	if hdr := hostRead(t, m, "delete.db", key1); !bytes.HasPrefix(hdr, []byte("SQLite format 3\x00")) {
		t.Fatal("host decrypt of the database is not a database")
	}
}
