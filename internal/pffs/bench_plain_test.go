package pffs

import (
	"path/filepath"
	"testing"
)

// The same workloads on a plain host directory (the benchmark host dir),
// so bench/pf.sh can print encrypted-mount / plain ratios from one run.

func BenchmarkPlainSequentialWrite(b *testing.B) {
	seqWriteBench(b, filepath.Join(benchHostDir(b), "plain-seq"))
}

func BenchmarkPlainSequentialRead(b *testing.B) {
	seqReadBench(b, filepath.Join(benchHostDir(b), "plain-seq"))
}

func BenchmarkPlainRandomRead4K(b *testing.B) {
	randReadBench(b, filepath.Join(benchHostDir(b), "plain-rnd"))
}

func BenchmarkPlainRandomWrite4K(b *testing.B) {
	randWriteBench(b, filepath.Join(benchHostDir(b), "plain-rnd"))
}
