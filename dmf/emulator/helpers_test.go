package emulator_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

// The tests talk to the emulator over real HTTP with hand-written requests: they must not
// share code with the dmf client or with the emulator's own parsing.

const (
	actionBase = "/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities."
	dmNS       = "http://schemas.microsoft.com/dynamics/2015/01/DataManagement"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	t     testing.TB
	em    *emulator.Emulator
	srv   *httptest.Server
	token string
}

// setup starts an emulator behind a real HTTP server and gets a v2 token.
func setup(t testing.TB, cfg emulator.Config) *bundle {
	t.Helper()
	em := emulator.New(cfg)
	srv := httptest.NewServer(em)
	t.Cleanup(func() {
		em.Close()
		srv.Close()
	})
	b := &bundle{t: t, em: em, srv: srv}
	b.fetchToken(tenant(cfg))
	return b
}

// fetchToken gets a v2 token (again, e.g. after the fake clock passed its expiry).
func (b *bundle) fetchToken(tenant string) {
	b.t.Helper()
	status, body := b.tokenRequest("/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultClientID},
		"client_secret": {emulator.DefaultClientSecret}, "scope": {b.srv.URL + "/.default"},
	})
	require.Equal(b.t, http.StatusOK, status, string(body))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(b.t, json.Unmarshal(body, &tok))
	b.token = tok.AccessToken
}

func tenant(cfg emulator.Config) string {
	if cfg.Tenant != "" {
		return cfg.Tenant
	}
	return emulator.DefaultTenant
}

func (b *bundle) tokenRequest(path string, form url.Values) (int, []byte) {
	b.t.Helper()
	resp, err := http.Post(b.srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, body
}

// do sends a request with the bearer token (when bearer is true).
func (b *bundle) do(method, rawURL string, body []byte, header map[string]string, bearer bool) *http.Response {
	b.t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = b.srv.URL + rawURL
	}
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	require.NoError(b.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if bearer {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	return resp
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return data
}

// action posts an OData action and returns the status and raw body.
func (b *bundle) action(name string, params any) (int, []byte) {
	b.t.Helper()
	body, err := json.Marshal(params)
	require.NoError(b.t, err)
	resp := b.do(http.MethodPost, actionBase+name, body, map[string]string{"Content-Type": "application/json"}, true)
	return resp.StatusCode, readAll(b.t, resp)
}

// value posts an action that must succeed and returns its "value".
func (b *bundle) value(name string, params any) json.RawMessage {
	b.t.Helper()
	status, body := b.action(name, params)
	require.Equal(b.t, http.StatusOK, status, "%s: %s", name, body)
	var v struct {
		Context string          `json:"@odata.context"`
		Value   json.RawMessage `json:"value"`
	}
	require.NoError(b.t, json.Unmarshal(body, &v), string(body))
	require.Contains(b.t, v.Context, "/data/$metadata#")
	return v.Value
}

func (b *bundle) str(name string, params any) string {
	b.t.Helper()
	var s string
	raw := b.value(name, params)
	require.NoError(b.t, json.Unmarshal(raw, &s), string(raw))
	return s
}

// upload asks for a write URL, decodes it twice and PUTs the package to it.
func (b *bundle) upload(pkg []byte) string {
	b.t.Helper()
	doc := b.str("GetAzureWriteUrl", map[string]string{"uniqueFileName": newName()})
	var loc struct {
		BlobID  string `json:"BlobId"`
		BlobURL string `json:"BlobUrl"`
	}
	require.NoError(b.t, json.Unmarshal([]byte(doc), &loc))
	require.True(b.t, strings.HasPrefix(loc.BlobID, "{") && strings.HasSuffix(loc.BlobID, "}"), loc.BlobID)
	resp := b.do(http.MethodPut, loc.BlobURL, pkg, map[string]string{"x-ms-blob-type": "BlockBlob"}, false)
	require.Equal(b.t, http.StatusCreated, resp.StatusCode, string(readAll(b.t, resp)))
	resp.Body.Close()
	return loc.BlobURL
}

var nameSeq struct {
	sync.Mutex
	n int
}

func newName() string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return fmt.Sprintf("pkg-%d-%d.zip", time.Now().UnixNano(), nameSeq.n)
}

// importPackage uploads pkg and imports it synchronously; it returns the execution ID.
func (b *bundle) importPackage(pkg []byte, group, le, execID string) string {
	b.t.Helper()
	return b.str("ImportFromPackage", importParams(b.upload(pkg), group, execID, le))
}

func importParams(pkgURL, group, execID, le string) map[string]any {
	return map[string]any{"packageUrl": pkgURL, "definitionGroupId": group, "executionId": execID,
		"execute": true, "overwrite": true, "legalEntityId": le}
}

// wait polls GetExecutionSummaryStatus until the status is terminal.
func (b *bundle) wait(id string) string {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := b.str("GetExecutionSummaryStatus", map[string]string{"executionId": id})
		switch s {
		case "Succeeded", "PartiallySucceeded", "Failed", "Canceled", "Unknown":
			return s
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.t.Fatalf("execution %s did not finish", id)
	return ""
}

type executionError struct {
	RecordID     string `json:"RecordId"`
	Field        string `json:"Field"`
	ErrorMessage string `json:"ErrorMessage"`
}

func (b *bundle) errors(id string) []executionError {
	b.t.Helper()
	var errs []executionError
	require.NoError(b.t, json.Unmarshal([]byte(b.str("GetExecutionErrors", map[string]string{"executionId": id})), &errs))
	return errs
}

// splitErrors separates the messages of staged rows (they have a RecordId) from the
// lines of the execution, which name no row.
func splitErrors(errs []executionError) (rows []executionError, lines []string) {
	for _, e := range errs {
		if e.RecordID == "" {
			lines = append(lines, e.ErrorMessage)
		} else {
			rows = append(rows, e)
		}
	}
	return rows, lines
}

// entitySpec is one entity of a test package.
type entitySpec struct {
	name         string      // EntityName (DMF label)
	target       string      // TargetEntity; empty leaves the element out
	file         string      // InputFilePath; defaults to name + ".csv"
	header       []string    // CSV header; EntityMap maps each column to the same field
	maps         [][2]string // explicit XMLField -> EntityField pairs instead
	noMaps       bool        // write an empty EntityMapList
	rows         [][]string
	data         []byte // raw data file instead of header + rows
	omitFile     bool   // leave the data file out of the zip
	sourceFormat string
	sequence     int
}

type pkgSpec struct {
	group     string
	encoding  string // utf16le (default), utf16be, utf8bom, utf8
	namespace string // defaults to the DataManagement namespace
	reverse   bool   // write elements in reverse alphabetical order
	entities  []entitySpec
}

type elem struct{ name, inner string }

func writeElems(b *strings.Builder, elems []elem, reverse bool) {
	if reverse {
		for i, j := 0, len(elems)-1; i < j; i, j = i+1, j-1 {
			elems[i], elems[j] = elems[j], elems[i]
		}
	}
	for _, e := range elems {
		if e.inner == "" {
			fmt.Fprintf(b, "<%s />", e.name)
			continue
		}
		fmt.Fprintf(b, "<%s>%s</%s>", e.name, e.inner, e.name)
	}
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func buildManifest(spec pkgSpec) string {
	ns := spec.namespace
	if ns == "" {
		ns = dmNS
	}
	var list strings.Builder
	for i, e := range spec.entities {
		var maps strings.Builder
		pairs := e.maps
		if pairs == nil && !e.noMaps {
			for _, h := range e.header {
				pairs = append(pairs, [2]string{h, strings.ToUpper(h)})
			}
		}
		for _, p := range pairs {
			maps.WriteString("<EntityMap>")
			writeElems(&maps, []elem{
				{"ArrayIndex", "0"}, {"EntityField", xmlText(p[1])}, {"IsAutoDefault", "false"},
				{"IsAutoGenerated", "false"}, {"IsDefaultValueEqualNull", "false"}, {"UseTextQualifier", "false"},
				{"XMLField", xmlText(p[0])},
			}, spec.reverse)
			maps.WriteString("</EntityMap>")
		}
		format := e.sourceFormat
		if format == "" {
			format = "CSV-Unicode"
		}
		seq := e.sequence
		if seq == 0 {
			seq = i + 1
		}
		elems := []elem{
			{"DefaultRefreshType", "FullPush"}, {"Disable", "false"}, {"EntityMapList", maps.String()},
			{"EntityName", xmlText(e.name)}, {"ExcelSheetName", ""}, {"ExecutionUnit", "1"},
			{"FailExecutionUnitOnError", "false"}, {"FailLevelOnError", "false"},
			{"InputFilePath", xmlText(fileName(e))}, {"LevelInExecutionUnit", "1"}, {"RunBusinessLogic", "true"},
			{"RunBusinessValidation", "true"}, {"SampleFilePath", ""}, {"SequenceInLevel", fmt.Sprint(seq)},
			{"SourceFormat", format},
		}
		if e.target != "" {
			elems = append(elems, elem{"TargetEntity", e.target})
		}
		elems = append(elems, elem{"ValidationStatus", "Yes"})
		list.WriteString("<DataManagementPackageEntityData>")
		writeElems(&list, elems, spec.reverse)
		list.WriteString("</DataManagementPackageEntityData>")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="%s"?>`+"\r\n", declEncoding(spec.encoding))
	fmt.Fprintf(&b, `<DataManagementPackageManifest xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="%s">`, ns)
	writeElems(&b, []elem{{"DefinitionGroupName", xmlText(spec.group)}, {"Description", "test package"},
		{"PackageEntityList", list.String()}}, spec.reverse)
	b.WriteString("</DataManagementPackageManifest>")
	return b.String()
}

func packageHeaderXML(spec pkgSpec) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="%s"?><DataManagementPackageHeader xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="%s"><Description>%s</Description><ManifestType>Microsoft.Dynamics.AX.Framework.Tools.DataManagement.Serialization.DataManagementPackageManifest</ManifestType><PackageType>DefinitionGroup</PackageType><PackageVersion>2</PackageVersion></DataManagementPackageHeader>`,
		declEncoding(spec.encoding), dmNS, xmlText(spec.group))
}

func declEncoding(enc string) string {
	if strings.HasPrefix(enc, "utf8") {
		return "utf-8"
	}
	return "utf-16"
}

func fileName(e entitySpec) string {
	if e.file != "" {
		return e.file
	}
	return e.name + ".csv"
}

func encodeText(s, enc string) []byte {
	switch enc {
	case "utf8":
		return []byte(s)
	case "utf8bom":
		return append([]byte{0xEF, 0xBB, 0xBF}, s...)
	}
	units := utf16.Encode([]rune(s))
	out := []byte{0xFF, 0xFE}
	if enc == "utf16be" {
		out = []byte{0xFE, 0xFF}
	}
	for _, u := range units {
		if enc == "utf16be" {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// csvText writes RFC 4180 CSV with CRLF.
func csvText(header []string, rows [][]string) string {
	var b strings.Builder
	for _, rec := range append([][]string{header}, rows...) {
		for i, f := range rec {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(f, ",\"\r\n") {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// csvUnicode is a CSV-Unicode data file: UTF-16 LE with BOM.
func csvUnicode(header []string, rows [][]string) []byte {
	return encodeText(csvText(header, rows), "utf16le")
}

func buildPackage(t testing.TB, spec pkgSpec) []byte {
	t.Helper()
	if spec.encoding == "" {
		spec.encoding = "utf16le"
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	add("Manifest.xml", encodeText(buildManifest(spec), spec.encoding))
	add("PackageHeader.xml", encodeText(packageHeaderXML(spec), spec.encoding))
	for _, e := range spec.entities {
		if e.omitFile {
			continue
		}
		data := e.data
		if data == nil {
			data = csvUnicode(e.header, e.rows)
		}
		add(fileName(e), data)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// customersPackage is a one-entity Customers V3 package.
func customersPackage(t testing.TB, group string, rows [][]string) []byte {
	return buildPackage(t, pkgSpec{group: group, entities: []entitySpec{{
		name:   "Customers V3",
		header: []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "CUSTOMERGROUPID", "SALESCURRENCYCODE", "PARTYTYPE", "CREDITLIMIT"},
		rows:   rows,
	}}})
}

// decodeUTF16 turns a UTF-16 LE file with BOM into text.
func decodeUTF16(t testing.TB, data []byte) string {
	t.Helper()
	require.True(t, bytes.HasPrefix(data, []byte{0xFF, 0xFE}), "want a UTF-16 LE BOM, got % x", data[:min(4, len(data))])
	data = data[2:]
	require.Zero(t, len(data)%2)
	units := make([]uint16, len(data)/2)
	for i := range units {
		units[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
	}
	return string(utf16.Decode(units))
}
