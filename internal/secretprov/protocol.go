package secretprov

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Wire strings. Both are sent with their terminating NUL, as Gramine's C
// code sends sizeof() of the string literal.
const (
	RequestString  = "SECRET_PROVISION_RA_TLS_REQUEST_V1"
	ResponseString = "SECRET_PROVISION_RA_TLS_RESPONSE_V1:"
)

var (
	request        = []byte(RequestString + "\x00")  // 35 bytes
	responseHeader = []byte(ResponseString + "\x00") // 37 bytes
)

// RequestSize and ResponseHeaderSize are the fixed message sizes: the
// request, and the response header with its 4-byte big-endian secret length.
const (
	RequestSize        = len(RequestString) + 1
	ResponseHeaderSize = len(ResponseString) + 1 + 4
)

// DefaultMaxSecret bounds what a client accepts (the protocol allows up to
// INT_MAX bytes; nobody needs that much before main()).
const DefaultMaxSecret = 1 << 20

// ErrProtocol reports a peer that does not speak the protocol.
var ErrProtocol = errors.New("secret provisioning protocol error")

// WriteRequest sends the client's request.
func WriteRequest(w io.Writer) error {
	_, err := w.Write(request)
	return err
}

// ReadRequest reads and checks the client's request.
func ReadRequest(r io.Reader) error {
	buf := make([]byte, RequestSize)
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("%w: reading the %d-byte request: %v", ErrProtocol, RequestSize, err)
	}
	if !bytes.Equal(buf, request) {
		return fmt.Errorf("%w: request %q is not %q", ErrProtocol, buf, RequestString)
	}
	return nil
}

// WriteResponse sends the response header (with the length) and then the
// secret, as two writes like Gramine's server.
func WriteResponse(w io.Writer, secret []byte) error {
	if len(secret) == 0 || uint64(len(secret)) > math.MaxInt32 {
		return fmt.Errorf("secret of %d bytes cannot be sent: must be 1..%d bytes", len(secret), math.MaxInt32)
	}
	hdr := binary.BigEndian.AppendUint32(bytes.Clone(responseHeader), uint32(len(secret)))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(secret)
	return err
}

// ReadResponse reads the response header and the secret, refusing secrets
// longer than max bytes (max <= 0: DefaultMaxSecret).
func ReadResponse(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxSecret
	}
	hdr := make([]byte, ResponseHeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: reading the %d-byte response header: %v (the server may have refused this client; see its audit log)", ErrProtocol, ResponseHeaderSize, err)
	}
	if !bytes.Equal(hdr[:len(responseHeader)], responseHeader) {
		return nil, fmt.Errorf("%w: response header %q is not %q", ErrProtocol, hdr[:len(responseHeader)], ResponseString)
	}
	n := binary.BigEndian.Uint32(hdr[len(responseHeader):])
	if n == 0 {
		return nil, fmt.Errorf("%w: server sent an empty secret", ErrProtocol)
	}
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: secret length %d exceeds INT_MAX", ErrProtocol, n)
	}
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: secret of %d bytes exceeds the client's limit of %d", ErrProtocol, n, max)
	}
	secret := make([]byte, n)
	if _, err := io.ReadFull(r, secret); err != nil {
		return nil, fmt.Errorf("%w: reading the %d-byte secret: %v", ErrProtocol, n, err)
	}
	return secret, nil
}
