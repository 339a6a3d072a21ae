package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

const actionPrefix = "/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities."

// OData primitive types named in @odata.context.
const (
	edmString  = "Edm.String"
	edmBoolean = "Edm.Boolean"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// odataValue is F&O's primitive result wrapper (dmf-api.md §2.1).
type odataValue struct {
	Context string `json:"@odata.context"`
	Value   any    `json:"value"`
}

func writeValue(w http.ResponseWriter, r *http.Request, edm string, v any) {
	w.Header().Set("OData-Version", "4.0")
	writeJSON(w, http.StatusOK, odataValue{Context: baseURL(r) + "/data/$metadata#" + edm, Value: v})
}

// odataError is the OData v4 error envelope.
type odataError struct {
	Error odataErrorBody `json:"error"`
}

type odataErrorBody struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError innerError `json:"innererror"`
}

type innerError struct {
	Message    string `json:"message"`
	Type       string `json:"type"`
	Stacktrace string `json:"stacktrace"`
}

func writeODataError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("OData-Version", "4.0")
	writeJSON(w, status, odataError{Error: odataErrorBody{
		Code:    code,
		Message: msg,
		InnerError: innerError{
			Message: msg,
			Type:    "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataException",
		},
	}})
}

// paramKind is the JSON type of an action parameter.
type paramKind int

const (
	pString paramKind = iota
	pBool
	pInt
)

type param struct {
	name string
	kind paramKind
}

// actionParams lists every action of dmf-api.md §2.2 with its parameters.
var actionParams = map[string][]param{
	"GetAzureWriteUrl":                    {{"uniqueFileName", pString}},
	"ImportFromPackage":                   importParams,
	"ImportFromPackageAsync":              importParams,
	"ExportFromPackage":                   importParams,
	"ExportToPackage":                     exportParams,
	"ExportToPackageAsync":                exportParams,
	"ExportToPackagePreview":              append(exportParams[:len(exportParams):len(exportParams)], param{"count", pInt}),
	"GetExportedPackageUrl":               {{"executionId", pString}},
	"GetExecutionSummaryStatus":           {{"executionId", pString}},
	"GetExecutionErrors":                  {{"executionId", pString}},
	"GetImportStagingErrorFileUrl":        {{"executionId", pString}, {"entityName", pString}},
	"GenerateImportTargetErrorKeysFile":   {{"executionId", pString}, {"entityName", pString}},
	"GetImportTargetErrorKeysFileUrl":     {{"executionId", pString}, {"entityName", pString}},
	"GetMessageStatus":                    {{"messageId", pString}},
	"GetExecutionIdByMessageId":           {{"_messageId", pString}},
	"GetExecutionSummaryPageUrl":          {{"executionId", pString}},
	"DeleteExecutionHistoryJob":           {{"executionId", pString}},
	"InitializeDataManagement":            {},
	"GetEntityExecutionSummaryStatusList": {{"executionId", pString}},
}

var importParams = []param{
	{"packageUrl", pString}, {"definitionGroupId", pString}, {"executionId", pString},
	{"execute", pBool}, {"overwrite", pBool}, {"legalEntityId", pString},
}

var exportParams = []param{
	{"definitionGroupId", pString}, {"packageName", pString}, {"executionId", pString},
	{"reExecute", pBool}, {"legalEntityId", pString},
}

// args are decoded action parameters. Missing parameters read as zero values (and are
// recorded as protocol violations).
type args struct {
	s map[string]string
	b map[string]bool
	i map[string]int64
}

func (a args) str(name string) string { return a.s[name] }

// parseArgs decodes an action body. On failure it has written the error response.
func (e *Emulator) parseArgs(w http.ResponseWriter, r *http.Request, action string, spec []param) (args, bool) {
	a := args{s: map[string]string{}, b: map[string]bool{}, i: map[string]int64{}}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeODataError(w, http.StatusBadRequest, "", "Reading the request body failed: "+err.Error())
		return a, false
	}
	raw := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			e.violation("%s called with Content-Type %q, want application/json", action, r.Header.Get("Content-Type"))
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			writeODataError(w, http.StatusBadRequest, "", "The request payload is not a valid JSON object: "+err.Error())
			return a, false
		}
	}
	known := map[string]paramKind{}
	for _, p := range spec {
		known[p.name] = p.kind
	}
	for name := range raw {
		if _, ok := known[name]; !ok {
			e.violation("%s called with unknown parameter %q", action, name)
			writeODataError(w, http.StatusBadRequest, "",
				fmt.Sprintf("The parameter '%s' in the request payload is not a valid parameter for the operation '%s'.", name, action))
			return a, false
		}
	}
	for _, p := range spec {
		v, ok := raw[p.name]
		if !ok || string(v) == "null" {
			e.violation("%s called without parameter %q", action, p.name)
			continue
		}
		bad := func() bool {
			writeODataError(w, http.StatusBadRequest, "",
				fmt.Sprintf("Cannot convert the value %s of parameter '%s' to the expected type.", v, p.name))
			return false
		}
		switch p.kind {
		case pString:
			var s string
			if json.Unmarshal(v, &s) != nil {
				return a, bad()
			}
			a.s[p.name] = s
		case pBool:
			var b bool
			if json.Unmarshal(v, &b) != nil {
				return a, bad()
			}
			a.b[p.name] = b
		case pInt:
			// The Learn example shows count as a string placeholder; accept both.
			var n json.Number
			if json.Unmarshal(v, &n) != nil {
				var s string
				if json.Unmarshal(v, &s) != nil {
					return a, bad()
				}
				n = json.Number(strings.TrimSpace(s))
			}
			x, err := n.Int64()
			if err != nil {
				return a, bad()
			}
			a.i[p.name] = x
		}
	}
	return a, true
}

func newHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newGUID returns a random (version 4) GUID in lower case without braces.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
