package sandbox

import (
	"encoding/json"

	"golang.org/x/sys/unix"
)

// encoding/json builds its encoder and decoder of a type by reflection on
// the type's first use (~0.1-0.3 ms for message and childConfig, in code
// no other step has paged in). Both ends do that while they would
// otherwise wait: nacre once the child is started, PID 1 while its
// configuration has not arrived yet.

// primeJSON builds the codecs of the protocol's messages.
func primeJSON() {
	cfg := &childConfig{Args: []string{""}, Env: []string{""}, Mounts: []Mount{{Binds: []string{""}}}}
	b, err := json.Marshal(message{Type: msgConfig, Config: cfg})
	if err == nil {
		var m message
		_ = json.Unmarshal(b, &m)
	}
}

// primedConfig is a msgConfig with every field of childConfig and Mount
// set, for PID 1 to decode while it waits for the real one.
const primedConfig = `{"type":"config","config":{"path":"/p","args":["a"],"env":["E=1"],"dir":"/",` +
	`"uid":1,"gid":1,"hostname":"h","fuse":true,"root_dir":"/r","mounts":[{"Kind":"fuse","Path":"/dev/x",` +
	`"Source":"/s","ReadOnly":true,"Options":"o","name":"n","binds":["/b"],"readahead_kb":1}],` +
	`"nofiles":1,"stack_size":1,"disallow_subprocesses":true,"disable_aslr":true,"log_denied":true,"foreground":true}}`

// primeJSONUnlessReadable primes the decoder (PID 1 only decodes its
// configuration) unless fd already has data, which the caller then reads
// first.
func primeJSONUnlessReadable(fd int) {
	var b [1]byte
	if n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); err == nil && n > 0 {
		return
	}
	var m message
	_ = json.Unmarshal([]byte(primedConfig), &m)
}
