package reader

import (
	"fmt"
	"io"
)

// sharedStrings holds a workbook's shared string table compactly: the text
// in a few large strings and one pointer-free uint64 per entry, so that
// millions of entries cost 8 bytes each and nothing for the garbage
// collector to scan.
type sharedStrings struct {
	chunks []string
	refs   []uint64 // chunk<<44 | start<<22 | length
	bad    map[int]Code
	cur    []byte
}

// sstFieldMask masks a start or a length in a ref; it is also the size of a
// chunk and so the longest shared string (Excel's limit is 32,767 characters).
const sstFieldMask = 1<<22 - 1

func (t *sharedStrings) len() int { return len(t.refs) }

func (t *sharedStrings) get(i int) string {
	ref := t.refs[i]
	start := (ref >> 22) & sstFieldMask
	return t.chunks[ref>>44][start : start+(ref&sstFieldMask)]
}

func (t *sharedStrings) add(s []byte) error {
	if clean, code := sanitizeText(s); code != "" {
		if t.bad == nil {
			t.bad = map[int]Code{}
		}
		t.bad[len(t.refs)] = code
		s = clean
	}
	if len(s) > sstFieldMask {
		return fmt.Errorf("shared string %d is longer than %d bytes", len(t.refs), sstFieldMask)
	}
	if len(t.cur)+len(s) > sstFieldMask {
		t.flush()
	}
	t.refs = append(t.refs, uint64(len(t.chunks))<<44|uint64(len(t.cur))<<22|uint64(len(s)))
	t.cur = append(t.cur, s...)
	return nil
}

// flush turns the current chunk into a string; later entries go to the next.
func (t *sharedStrings) flush() {
	t.chunks = append(t.chunks, string(t.cur))
	t.cur = t.cur[:0]
}

// readSharedStrings parses sharedStrings.xml: each <si> is the
// concatenation of its <t> texts, phonetic runs (<rPh>) excluded. size is
// the part's uncompressed size, which bounds how much the uniqueCount
// attribute may make us preallocate.
func readSharedStrings(r io.Reader, size uint64) (*sharedStrings, error) {
	t := &sharedStrings{}
	sc := newXMLScanner(r)
	var (
		raw, text []byte
		inSI      bool
		phonetic  int
	)
	for {
		tag, err := sc.next(nil)
		if err != nil {
			return nil, err
		}
		switch tag.kind {
		case tagEOF:
			t.flush() // entries may point at the current chunk even when it is empty
			t.cur = nil
			return t, nil
		case tagStart:
			switch string(tag.name) {
			case "sst":
				if v, ok := attr(tag.attrs, "uniqueCount"); ok {
					if n, ok := parseUint(v); ok {
						t.refs = make([]uint64, 0, min(uint64(n), size/uint64(len("<si></si>"))))
					}
				}
			case "si":
				if tag.self {
					if err := t.add(nil); err != nil {
						return nil, err
					}
					continue
				}
				inSI, text = true, text[:0]
			case "rPh":
				if !tag.self {
					phonetic++
				}
			case "t":
				if tag.self || !inSI {
					continue
				}
				raw = raw[:0]
				end, err := sc.next(&raw)
				if err != nil {
					return nil, err
				}
				if end.kind != tagEnd || string(end.name) != "t" {
					return nil, fmt.Errorf("shared string %d: unexpected markup inside <t>", t.len())
				}
				if phonetic == 0 {
					text = appendText(text, raw)
				}
			}
		case tagEnd:
			switch string(tag.name) {
			case "si":
				if err := t.add(decodeXString(text)); err != nil {
					return nil, err
				}
				inSI = false
			case "rPh":
				phonetic--
			}
		}
	}
}
