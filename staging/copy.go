package staging

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/dmfpipe/dmfpipe/internal/jsonstr"
	"github.com/jackc/pgx/v5/pgconn"
)

// copyBufferSize is how much encoded COPY data is handed to the connection at a time.
// With copyBuffersInFlight of them queued, the encoder and the socket work in parallel
// and the memory of a stream stays under a megabyte whatever the file size.
const (
	copyBufferSize      = 256 << 10
	copyBuffersInFlight = 2
)

// errCopyAborted makes pgconn send CopyFail, which rolls the COPY back.
var errCopyAborted = errors.New("staging aborted")

// copyStream is one binary COPY FROM STDIN fed from encoded buffers: the caller appends
// rows to cur and calls flush; the COPY goroutine reads the queued buffers.
type copyStream struct {
	cur     []byte
	full    chan []byte
	free    chan []byte
	abort   chan struct{}
	done    chan error
	err     error // the COPY's result, once received from done
	waited  bool
	pending []byte
	owned   []byte
}

var pgcopySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func startCopy(ctx context.Context, conn *pgconn.PgConn, sql string) *copyStream {
	cs := &copyStream{
		cur:   append(make([]byte, 0, copyBufferSize+4096), pgcopySignature...),
		full:  make(chan []byte, copyBuffersInFlight),
		free:  make(chan []byte, copyBuffersInFlight+1),
		abort: make(chan struct{}),
		done:  make(chan error, 1),
	}
	go func() {
		_, err := conn.CopyFrom(ctx, cs, sql)
		cs.done <- err
	}()
	return cs
}

// Read is called by pgconn on the COPY goroutine.
func (cs *copyStream) Read(p []byte) (int, error) {
	for len(cs.pending) == 0 {
		if cs.owned != nil {
			select {
			case cs.free <- cs.owned[:0]:
			default:
			}
			cs.owned = nil
		}
		select {
		case b, ok := <-cs.full:
			if !ok {
				return 0, io.EOF
			}
			cs.pending, cs.owned = b, b
		case <-cs.abort:
			return 0, errCopyAborted
		}
	}
	n := copy(p, cs.pending)
	cs.pending = cs.pending[n:]
	return n, nil
}

// wait returns the COPY's result, waiting for it once.
func (cs *copyStream) wait() error {
	if !cs.waited {
		cs.err = <-cs.done
		cs.waited = true
	}
	return cs.err
}

// flushIfFull queues cur when it has grown past copyBufferSize.
func (cs *copyStream) flushIfFull() error {
	if len(cs.cur) < copyBufferSize {
		return nil
	}
	return cs.flush()
}

func (cs *copyStream) flush() error {
	if cs.waited {
		return cs.failed()
	}
	select {
	case cs.full <- cs.cur:
	case err := <-cs.done:
		cs.err, cs.waited = err, true
		return cs.failed()
	}
	select {
	case b := <-cs.free:
		cs.cur = b
	default:
		cs.cur = make([]byte, 0, copyBufferSize+4096)
	}
	return nil
}

// failed is the error of a COPY that ended before its data did.
func (cs *copyStream) failed() error {
	if cs.err != nil {
		return cs.err
	}
	return errors.New("copy ended early")
}

// finish sends the trailer and waits for the COPY to commit.
func (cs *copyStream) finish() error {
	cs.cur = append(cs.cur, 0xff, 0xff)
	if err := cs.flush(); err != nil {
		return err
	}
	close(cs.full)
	return cs.wait()
}

// stop aborts the COPY and waits for it to roll back.
func (cs *copyStream) stop() {
	close(cs.abort)
	_ = cs.wait()
}

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendText(b []byte, s string) []byte {
	s = clean(s)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// valSep separates the mapped values in staging_rows.vals. A mapped value holding it
// is staged with U+FFFD in its place and an error (see Writer.Write).
const valSep = '\x1f'

// appendVals appends mapped values as one text field, joined by valSep: a single datum
// costs COPY far less than a text[] (measured: 0.8 s instead of 1.3 s per million
// 10-value rows), and split_part reads one value back as cheaply as a subscript.
func appendVals(b []byte, vals []string) []byte {
	at := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // length, patched below
	for i, v := range vals {
		if i > 0 {
			b = append(b, valSep)
		}
		b = append(b, clean(v)...)
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// joinVals and splitVals convert between a row's values and their stored form.
func joinVals(vals []string) string { return strings.Join(cleanAll(vals), string(valSep)) }

func splitVals(s string) []string { return strings.Split(s, string(valSep)) }

// The source values of a row (staging_rows.raw) are stored in one of two forms, NULL
// when each one is the value mapped from its column (Layout.FieldOf):
//
//   - compact, for almost every row: the values joined by U+001F, in which an empty
//     element is the value mapped from its column and U+001E alone an empty value. It
//     is half the size of JSON for a typical row, and the bytes of every row cost the
//     COPY.
//   - JSON, an array of strings in which null is the value mapped from its column, for
//     a row that cannot be compact: a value holds U+001E or U+001F, or the text would
//     start with '['.
const rawEmpty = '\x1e'

// appendRaw appends a row's source values as a COPY text field; vals are its mapped
// values, pairs (Layout.pairs) say which is mapped from which column (nil for none: a
// ragged row is kept whole).
func appendRaw(b []byte, raw, vals []string, pairs []int) []byte {
	at := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // length, patched below
	b, stored := appendRawText(b, raw, vals, pairs)
	if !stored {
		return binary.BigEndian.AppendUint32(b[:at], 0xffffffff)
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	return b
}

// appendRawText appends the stored form of source values; false means NULL (each value
// is the one mapped from its column) and appends nothing.
func appendRawText(b []byte, raw, vals []string, pairs []int) ([]byte, bool) {
	isSame := func(i int) bool {
		v, ok := mappedFrom(pairs, i, vals)
		return ok && raw[i] == v
	}
	if pairs != nil && len(raw) > 0 {
		allSame := true
		for i := range raw {
			if !isSame(i) {
				allSame = false
				break
			}
		}
		if allSame {
			return b, false
		}
	}
	at := len(b)
	for i, v := range raw {
		if i > 0 {
			b = append(b, valSep)
		}
		switch {
		case isSame(i):
		case v == "":
			b = append(b, rawEmpty)
		default:
			start := len(b)
			b = append(b, clean(v)...)
			for _, c := range b[start:] {
				if c == valSep || c == rawEmpty {
					return appendRawJSON(b[:at], raw, isSame), true
				}
			}
		}
	}
	if len(raw) == 0 || b[at] == '[' {
		return appendRawJSON(b[:at], raw, isSame), true
	}
	return b, true
}

// appendRawJSON appends source values as a JSON array, null for the mapped ones.
func appendRawJSON(b []byte, raw []string, isSame func(int) bool) []byte {
	b = append(b, '[')
	for i, v := range raw {
		if i > 0 {
			b = append(b, ',')
		}
		if isSame(i) {
			b = append(b, "null"...)
			continue
		}
		b = jsonstr.Append(b, clean(v))
	}
	return append(b, ']')
}

// decodeRaw is the inverse of appendRaw: the source values of a row of layout l with
// mapped values vals.
func decodeRaw(raw *string, vals []string, l *Layout) ([]string, error) {
	pairs := l.pairs()
	mapped := func(i int) string {
		v, _ := mappedFrom(pairs, i, vals)
		return v
	}
	if raw == nil {
		out := make([]string, len(l.Columns))
		for i := range out {
			out[i] = mapped(i)
		}
		return out, nil
	}
	if !strings.HasPrefix(*raw, "[") {
		out := strings.Split(*raw, string(valSep))
		for i, v := range out {
			switch v {
			case "":
				out[i] = mapped(i)
			case string(rawEmpty):
				out[i] = ""
			}
		}
		return out, nil
	}
	var elems []*string
	if err := json.Unmarshal([]byte(*raw), &elems); err != nil {
		return nil, fmt.Errorf("decoding source values: %w", err)
	}
	out := make([]string, len(elems))
	for i, v := range elems {
		if v != nil {
			out[i] = *v
		} else {
			out[i] = mapped(i)
		}
	}
	return out, nil
}

// encodeRaw is the stored form of a complete set of source values.
func encodeRaw(raw []string) string {
	b, _ := appendRawText(nil, raw, nil, nil)
	return string(b)
}

// clean makes s storable in a Postgres text value: NUL bytes and invalid UTF-8 become
// U+FFFD. COPY would otherwise fail the whole file on the first such value.
func clean(s string) string {
	// One pass over the ASCII that almost every value is.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			rest := s[i:]
			if strings.IndexByte(rest, 0) < 0 && utf8.ValidString(rest) {
				return s
			}
			return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
		}
	}
	return s
}
