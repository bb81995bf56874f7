package prober

import (
	"errors"
	"fmt"
)

// This file is the codec of the kept Redis connection: the one request it
// sends (ROLE) and a reader of the RESP2 reply to it. It does no I/O. A
// kept connection asks only ROLE, once a second per target; go-redis's
// general client (command objects, hooks, a pool that checks the socket
// with an extra system call before each use) cost several times the probe
// itself there, so the kept path speaks the little RESP it needs and the
// fresh path (AUTH, PING, the errors to tell refused credentials from a
// dead server) stays with go-redis.
//
// The reply is the server's, so it is peer-controlled input: every length
// is bounded before it is used, nesting is bounded, and anything outside
// the RESP2 a ROLE reply can hold is refused with an error naming it.

// roleRequest is ROLE as a RESP array of one bulk string.
const roleRequest = "*1\r\n$4\r\nROLE\r\n"

// Bounds on a ROLE reply. A master's reply lists its replicas, about 50
// bytes each, so 64 KiB is over a thousand replicas; nesting is at most
// three deep (the reply, the replica list, one replica).
const (
	maxReply = 64 << 10
	maxDepth = 3
)

// errIncomplete says the bytes end before the reply does: read more.
var errIncomplete = errors.New("redis: incomplete reply")

// replyError is an error reply (-ERR …, -NOAUTH …) from the server.
type replyError string

func (e replyError) Error() string { return string(e) }

// parseRoleReply reads one reply to ROLE from the start of b and returns
// the first element (the role's name, still to be checked by roleNamed)
// and the length of the reply. It returns errIncomplete when b holds only a
// prefix of a valid reply, a replyError for an error reply, and another
// error for anything malformed.
func parseRoleReply(b []byte) (first []byte, n int, err error) {
	if len(b) == 0 {
		return nil, 0, errIncomplete
	}
	if b[0] == '-' {
		line, next, err := respLine(b, 1)
		if err != nil {
			return nil, 0, err
		}
		return nil, next, replyError(truncate(string(line), 200))
	}
	if b[0] != '*' {
		return nil, 0, fmt.Errorf("redis: ROLE: reply of type %q, want an array", b[0])
	}
	count, off, err := respLength(b, 1)
	if err != nil {
		return nil, 0, err
	}
	if count < 1 {
		return nil, 0, errors.New("redis: ROLE: empty reply")
	}
	if off >= len(b) {
		return nil, 0, errIncomplete
	}
	switch b[off] {
	case '$':
		l, start, err := respLength(b, off+1)
		if err != nil {
			return nil, 0, err
		}
		if l < 0 {
			return nil, 0, errors.New("redis: ROLE: first element is a null, want a string")
		}
		end := start + l
		if end+2 > len(b) {
			return nil, 0, errIncomplete
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return nil, 0, errors.New("redis: ROLE: bulk string not ended by CRLF")
		}
		first, off = b[start:end], end+2
	case '+':
		first, off, err = respLine(b, off+1)
		if err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("redis: ROLE: first element of type %q, want a string", b[off])
	}
	for range count - 1 {
		if off, err = skipValue(b, off, 1); err != nil {
			return nil, 0, err
		}
	}
	return first, off, nil
}

// skipValue returns the offset just past the RESP2 value starting at off,
// which sits depth arrays deep.
func skipValue(b []byte, off, depth int) (int, error) {
	if off >= len(b) {
		return 0, errIncomplete
	}
	switch b[off] {
	case '+', '-':
		_, next, err := respLine(b, off+1)
		return next, err
	case ':':
		_, next, err := respInt(b, off+1)
		return next, err
	case '$':
		l, start, err := respLength(b, off+1)
		if err != nil || l < 0 {
			return start, err
		}
		end := start + l
		if end+2 > len(b) {
			return 0, errIncomplete
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return 0, errors.New("redis: ROLE: bulk string not ended by CRLF")
		}
		return end + 2, nil
	case '*':
		if depth >= maxDepth {
			return 0, fmt.Errorf("redis: ROLE: arrays nested more than %d deep", maxDepth)
		}
		count, next, err := respLength(b, off+1)
		if err != nil {
			return 0, err
		}
		for range max(count, 0) {
			if next, err = skipValue(b, next, depth+1); err != nil {
				return 0, err
			}
		}
		return next, nil
	}
	return 0, fmt.Errorf("redis: ROLE: value of type %q is not RESP2", b[off])
}

// respLength reads the length of a bulk string or array: -1 (null) up to
// maxReply, since nothing longer fits in a reply of maxReply bytes.
func respLength(b []byte, off int) (int, int, error) {
	v, next, err := respInt(b, off)
	if err != nil {
		return 0, 0, err
	}
	if v < -1 || v > maxReply {
		return 0, 0, fmt.Errorf("redis: ROLE: length %d out of range", v)
	}
	return int(v), next, nil
}

// respInt reads a decimal integer ended by CRLF; at most 19 digits, so it
// cannot overflow.
func respInt(b []byte, off int) (int64, int, error) {
	line, next, err := respLine(b, off)
	if err != nil {
		return 0, 0, err
	}
	digits := line
	neg := len(digits) > 0 && digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, 0, fmt.Errorf("redis: ROLE: %q is not an integer", truncate(string(line), 32))
	}
	var v int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, 0, fmt.Errorf("redis: ROLE: %q is not an integer", truncate(string(line), 32))
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, next, nil
}

// respLine returns the bytes from off to the next CRLF and the offset past
// it. A line holds no bare CR or LF.
func respLine(b []byte, off int) ([]byte, int, error) {
	for i := off; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 == len(b) {
				return nil, 0, errIncomplete
			}
			if b[i+1] != '\n' {
				return nil, 0, errors.New("redis: ROLE: CR without LF in a line")
			}
			return b[off:i], i + 2, nil
		case '\n':
			return nil, 0, errors.New("redis: ROLE: LF without CR in a line")
		}
	}
	return nil, 0, errIncomplete
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
