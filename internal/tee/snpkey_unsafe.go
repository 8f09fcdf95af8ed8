package tee

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// snpGuestRequest mirrors struct snp_guest_request_ioctl.
type snpGuestRequest struct {
	MsgVersion uint8
	_          [7]byte
	ReqData    uint64
	RespData   uint64
	ExitInfo2  uint64
}

var _ [snpGuestRequestSize - unsafe.Sizeof(snpGuestRequest{})]byte // size check
var _ [unsafe.Sizeof(snpGuestRequest{}) - snpGuestRequestSize]byte

func snpDerivedKey(dev string, req SNPKeyRequest) ([32]byte, error) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return [32]byte{}, fmt.Errorf("SNP derived key: %w (needs an SEV-SNP guest with the sev-guest driver)", err)
	}
	defer f.Close()
	reqBuf := req.Marshal()
	rsp := make([]byte, snpDerivedKeyRspLen)
	io := snpGuestRequest{
		MsgVersion: 1,
		ReqData:    uint64(uintptr(unsafe.Pointer(&reqBuf[0]))),
		RespData:   uint64(uintptr(unsafe.Pointer(&rsp[0]))),
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), snpGetDerivedKey, uintptr(unsafe.Pointer(&io)))
	runtime.KeepAlive(reqBuf)
	runtime.KeepAlive(rsp)
	if errno != 0 {
		var fw [8]byte
		binary.LittleEndian.PutUint64(fw[:], io.ExitInfo2)
		return [32]byte{}, fmt.Errorf("SNP_GET_DERIVED_KEY on %s: %w (firmware error %#x, vmm error %#x)", dev, errno, binary.LittleEndian.Uint32(fw[0:]), binary.LittleEndian.Uint32(fw[4:]))
	}
	return parseSNPKeyResponse(rsp)
}
