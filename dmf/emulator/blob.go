package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	blobContainer = "dmf"
	blobPathRoot  = "/" + blobAccount + "/" + blobContainer + "/"
	// maxBlobPut caps one Put Blob or Put Block body (Azure allows 256 MiB per Put Blob on
	// the service versions clients use).
	maxBlobPut = 256 << 20
	sasVersion = "2021-08-06"
)

type blob struct {
	data        []byte
	contentType string
	modified    time.Time
	etag        string
	committed   map[string][]byte // blocks of a blob built with Put Block List
}

// blobStore is the emulator's Azure Blob container "dmf".
type blobStore struct {
	mu     sync.RWMutex
	blobs  map[string]*blob
	blocks map[string]map[string][]byte // uncommitted blocks per blob name
}

func newBlobStore() *blobStore {
	return &blobStore{blobs: map[string]*blob{}, blocks: map[string]map[string][]byte{}}
}

func (s *blobStore) put(name string, data []byte, contentType string, now time.Time) *blob {
	b := &blob{data: data, contentType: contentType, modified: now, etag: fmt.Sprintf(`"0x%X"`, now.UnixNano())}
	s.mu.Lock()
	s.blobs[name] = b
	s.mu.Unlock()
	return b
}

func (s *blobStore) get(name string) (*blob, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.blobs[name]
	return b, ok
}

// sasURL is a SAS URL for blob name on the emulator's blob endpoint. perms is "r" or "rw".
func (e *Emulator) sasURL(base, name, perms string) string {
	now := e.now().UTC()
	st := now.Add(-5 * time.Minute).Format(time.RFC3339)
	se := now.Add(e.cfg.SASLifetime).Format(time.RFC3339)
	q := url.Values{}
	q.Set("sv", sasVersion)
	q.Set("st", st)
	q.Set("se", se)
	q.Set("sr", "b")
	q.Set("sp", perms)
	q.Set("sig", e.sasSignature(name, perms, se))
	return base + blobPathRoot + escapeBlobName(name) + "?" + q.Encode()
}

func (e *Emulator) sasSignature(name, perms, se string) string {
	m := hmac.New(sha256.New, e.sasKey)
	m.Write([]byte(name + "\n" + perms + "\n" + se))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func escapeBlobName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// blobNameFromURL extracts the blob name from a SAS URL of this emulator.
func blobNameFromURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(u.Path, blobPathRoot) {
		return "", false
	}
	name := strings.TrimPrefix(u.Path, blobPathRoot)
	return name, name != ""
}

// serveBlob implements the subset of the Azure Blob REST API that SAS clients (the
// azblob SDK among them) use (dmf-api.md §2.4): Put Blob, Put Block, Put Block List,
// Get/Head Blob, Delete Blob. It holds requests to Azure's rules where a client could
// break them: x-ms-version, when sent, must be a service version (a date); writes
// need a Content-Length; block IDs are Base64 of at most 64 bytes, all of one length
// per blob; x-ms-blob-content-type sets a blob's content type over Content-Type.
func (e *Emulator) serveBlob(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, blobPathRoot) || r.URL.Path == blobPathRoot {
		e.countRequest("blob.other")
		writeBlobError(w, http.StatusNotFound, "ContainerNotFound", "The specified container does not exist.")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, blobPathRoot)
	q := r.URL.Query()
	op := blobOperation(r.Method, q.Get("comp"))
	e.countRequest("blob." + op)
	if r.Header.Get("Authorization") != "" {
		e.violation("%s %s sent an Authorization header to a SAS URL", r.Method, blobPathRoot+name)
	}
	if !e.checkSAS(w, name, q, r.Method) {
		return
	}
	if v := r.Header.Get("x-ms-version"); v != "" {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			writeBlobError(w, http.StatusBadRequest, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
			return
		}
	}
	if r.Method == http.MethodPut && r.ContentLength < 0 {
		writeBlobError(w, http.StatusLengthRequired, "MissingContentLengthHeader", "Content-Length HTTP header is missing.")
		return
	}
	switch op {
	case "PutBlob":
		e.putBlob(w, r, name)
	case "PutBlock":
		e.putBlock(w, r, name, q.Get("blockid"))
	case "PutBlockList":
		e.putBlockList(w, r, name)
	case "GetBlob":
		b, ok := e.blobs.get(name)
		if !ok {
			writeBlobError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		h := w.Header()
		h.Set("Content-Type", b.contentType)
		h.Set("Content-Length", strconv.Itoa(len(b.data)))
		h.Set("ETag", b.etag)
		h.Set("Last-Modified", b.modified.UTC().Format(http.TimeFormat))
		h.Set("x-ms-blob-type", "BlockBlob")
		h.Set("x-ms-version", sasVersion)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(b.data)
		}
	case "DeleteBlob":
		e.blobs.mu.Lock()
		_, ok := e.blobs.blobs[name]
		delete(e.blobs.blobs, name)
		delete(e.blobs.blocks, name)
		e.blobs.mu.Unlock()
		if !ok {
			writeBlobError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		writeBlobError(w, http.StatusBadRequest, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
	}
}

func blobOperation(method, comp string) string {
	switch {
	case method == http.MethodPut && comp == "":
		return "PutBlob"
	case method == http.MethodPut && comp == "block":
		return "PutBlock"
	case method == http.MethodPut && comp == "blocklist":
		return "PutBlockList"
	case (method == http.MethodGet || method == http.MethodHead) && comp == "":
		return "GetBlob"
	case method == http.MethodDelete && comp == "":
		return "DeleteBlob"
	default:
		return "unsupported"
	}
}

// checkSAS validates the SAS query loosely: a signature of ours, not expired, with the
// permission the method needs.
func (e *Emulator) checkSAS(w http.ResponseWriter, name string, q url.Values, method string) bool {
	sig, se, sp := q.Get("sig"), q.Get("se"), q.Get("sp")
	if sig == "" || se == "" || sp == "" {
		writeBlobError(w, http.StatusForbidden, "AuthenticationFailed",
			"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
		return false
	}
	if !hmac.Equal([]byte(sig), []byte(e.sasSignature(name, sp, se))) {
		writeBlobError(w, http.StatusForbidden, "AuthenticationFailed",
			"Signature did not match. String to sign used was "+sp+"\n"+se)
		return false
	}
	exp, err := time.Parse(time.RFC3339, se)
	if err != nil || !e.now().Before(exp) {
		writeBlobError(w, http.StatusForbidden, "AuthenticationFailed", "Signed expiry time ["+se+"] must be after signed start time and in the future.")
		return false
	}
	need := "r"
	if method == http.MethodPut || method == http.MethodDelete {
		need = "w"
	}
	if !strings.Contains(sp, need) {
		writeBlobError(w, http.StatusForbidden, "AuthorizationPermissionMismatch",
			"This request is not authorized to perform this operation using this permission.")
		return false
	}
	return true
}

func readBlobBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBlobPut))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeBlobError(w, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
		} else {
			writeBlobError(w, http.StatusBadRequest, "InvalidInput", "Reading the request body failed: "+err.Error())
		}
		return nil, false
	}
	return data, true
}

func (e *Emulator) putBlob(w http.ResponseWriter, r *http.Request, name string) {
	switch bt := r.Header.Get("x-ms-blob-type"); {
	case bt == "":
		e.violation("Put Blob %s without x-ms-blob-type", name)
		writeBlobError(w, http.StatusBadRequest, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
		return
	case bt != "BlockBlob":
		e.violation("Put Blob %s with x-ms-blob-type %q, want BlockBlob", name, bt)
		writeBlobError(w, http.StatusBadRequest, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
		return
	}
	data, ok := readBlobBody(w, r)
	if !ok {
		return
	}
	ct := r.Header.Get("x-ms-blob-content-type")
	if ct == "" {
		ct = r.Header.Get("Content-Type")
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	b := e.blobs.put(name, data, ct, e.now())
	sum := md5.Sum(data)
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	writeBlobCreated(w, b)
}

// maxBlockIDBytes is Azure's limit on a block ID before Base64 encoding.
const maxBlockIDBytes = 64

func (e *Emulator) putBlock(w http.ResponseWriter, r *http.Request, name, blockID string) {
	raw, err := base64.StdEncoding.DecodeString(blockID)
	if err != nil || blockID == "" || len(raw) > maxBlockIDBytes {
		writeBlobError(w, http.StatusBadRequest, "InvalidQueryParameterValue",
			"Value for one of the query parameters specified in the request URI is invalid. blockid must be Base64 of at most 64 bytes.")
		return
	}
	data, ok := readBlobBody(w, r)
	if !ok {
		return
	}
	e.blobs.mu.Lock()
	blocks := e.blobs.blocks[name]
	for id := range blocks {
		if other, _ := base64.StdEncoding.DecodeString(id); len(other) != len(raw) {
			e.blobs.mu.Unlock()
			// Azure's answer when a blob's block IDs differ in length.
			writeBlobError(w, http.StatusBadRequest, "InvalidBlobOrBlock", "The specified blob or block content is invalid.")
			return
		}
		break
	}
	if blocks == nil {
		blocks = map[string][]byte{}
		e.blobs.blocks[name] = blocks
	}
	blocks[blockID] = data
	e.blobs.mu.Unlock()
	w.Header().Set("x-ms-request-id", newGUID())
	w.Header().Set("x-ms-version", sasVersion)
	w.WriteHeader(http.StatusCreated)
}

func (e *Emulator) putBlockList(w http.ResponseWriter, r *http.Request, name string) {
	body, ok := readBlobBody(w, r)
	if !ok {
		return
	}
	type ref struct{ kind, id string }
	var refs []ref
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeBlobError(w, http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid.")
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && t.Name.Local != "BlockList" {
				writeBlobError(w, http.StatusBadRequest, "InvalidXmlDocument", "The root element must be BlockList.")
				return
			}
			if depth == 2 {
				var id string
				if err := dec.DecodeElement(&id, &t); err != nil {
					writeBlobError(w, http.StatusBadRequest, "InvalidXmlDocument", "XML specified is not syntactically valid.")
					return
				}
				depth--
				refs = append(refs, ref{t.Name.Local, strings.TrimSpace(id)})
			}
		case xml.EndElement:
			depth--
		}
	}
	e.blobs.mu.Lock()
	uncommitted := e.blobs.blocks[name]
	var committed map[string][]byte
	if old, ok := e.blobs.blobs[name]; ok {
		committed = old.committed
	}
	var data []byte
	used := map[string][]byte{}
	for _, rf := range refs {
		var blk []byte
		var found bool
		switch rf.kind {
		case "Latest":
			if blk, found = uncommitted[rf.id]; !found {
				blk, found = committed[rf.id]
			}
		case "Uncommitted":
			blk, found = uncommitted[rf.id]
		case "Committed":
			blk, found = committed[rf.id]
		}
		if !found {
			e.blobs.mu.Unlock()
			writeBlobError(w, http.StatusBadRequest, "InvalidBlockList", "The specified block list is invalid: block "+rf.id+" ("+rf.kind+") not found.")
			return
		}
		used[rf.id] = blk
		data = append(data, blk...)
	}
	now := e.now()
	ct := r.Header.Get("x-ms-blob-content-type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	b := &blob{data: data, contentType: ct, modified: now, etag: fmt.Sprintf(`"0x%X"`, now.UnixNano()), committed: used}
	e.blobs.blobs[name] = b
	delete(e.blobs.blocks, name)
	e.blobs.mu.Unlock()
	writeBlobCreated(w, b)
}

func writeBlobCreated(w http.ResponseWriter, b *blob) {
	h := w.Header()
	h.Set("ETag", b.etag)
	h.Set("Last-Modified", b.modified.UTC().Format(http.TimeFormat))
	h.Set("x-ms-request-id", newGUID())
	h.Set("x-ms-version", sasVersion)
	h.Set("x-ms-request-server-encrypted", "true")
	w.WriteHeader(http.StatusCreated)
}

func writeBlobError(w http.ResponseWriter, status int, code, msg string) {
	reqID := newGUID()
	body := fmt.Sprintf("\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s</Message></Error>",
		code, xmlEscape(msg), reqID, time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z"))
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("x-ms-request-id", reqID)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
