package dmf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// ExecutionError is one entry of GetExecutionErrors (§2.6).
type ExecutionError struct {
	// RecordID is the RecId F&O gave the failing row in the entity's staging table
	// (§2.6), empty for a message about the execution. It is not the row's position
	// in the package and cannot be predicted: place a message on a row only by the
	// keys it names or by the error files (ErrorFileReader).
	RecordID string
	// Field is the entity field at fault; often empty.
	Field string
	// Message is F&O's error text.
	Message string
}

// GetExecutionErrors returns the execution's errors. F&O serialises them as a JSON
// array inside the string value; some environments leave quotes and line breaks in
// the messages unescaped, so a strict decode is tried first and a lenient record
// splitter second.
func (c *Client) GetExecutionErrors(ctx context.Context, executionID string) ([]ExecutionError, error) {
	const op = "GetExecutionErrors"
	body, err := c.action(ctx, op, map[string]string{"executionId": executionID}, retryAll, c.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	text, err := errorsValueText(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	errs, strict := parseExecutionErrors(text)
	if !strict {
		c.log.Warn("dmf: GetExecutionErrors is not valid JSON; split leniently", "execution", executionID, "records", len(errs))
	}
	return errs, nil
}

// errorsValueText extracts the value of a GetExecutionErrors answer as text: the
// decoded string, the raw array when value is not a string, or, when the body is not
// valid JSON at all, the raw text between `"value":"` and the closing quote.
func errorsValueText(body []byte) (string, error) {
	if v, err := unwrapValue(body); err == nil {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, nil
		}
		if t := bytes.TrimSpace(v); bytes.Equal(t, []byte("null")) {
			return "", nil
		}
		return string(v), nil
	}
	m := rawValueRE.FindSubmatchIndex(body)
	if m == nil {
		return "", fmt.Errorf("no value in answer: %s", truncate(string(body)))
	}
	rest := bytes.TrimRight(body[m[1]:], " \t\r\n")
	rest = bytes.TrimSuffix(rest, []byte("}"))
	rest = bytes.TrimRight(rest, " \t\r\n")
	rest = bytes.TrimSuffix(rest, []byte(`"`))
	return lenientUnescape(string(rest)), nil
}

var rawValueRE = regexp.MustCompile(`"value"\s*:\s*"`)

// parseExecutionErrors decodes the error array, strictly if it is valid JSON
// (strict=true), otherwise by splitting it into records at each {"RecordId": and
// taking every value up to the next key.
func parseExecutionErrors(text string) (errs []ExecutionError, strict bool) {
	text = strings.TrimSpace(text)
	if text == "" || text == "[]" {
		return nil, true
	}
	var records []map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &records) == nil {
		for _, r := range records {
			var e ExecutionError
			for k, v := range r {
				switch strings.ToLower(k) {
				case "recordid":
					e.RecordID = rawText(v)
				case "field":
					e.Field = rawText(v)
				case "errormessage", "message":
					e.Message = rawText(v)
				}
			}
			errs = append(errs, e)
		}
		return errs, true
	}
	starts := recordStartRE.FindAllStringIndex(text, -1)
	for i, st := range starts {
		end := len(text)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		errs = append(errs, splitRecord(text[st[0]:end]))
	}
	if len(errs) == 0 {
		// Not even the record shape: keep the text so that nothing is silently lost.
		errs = []ExecutionError{{Message: truncateAt(text, 4000)}}
	}
	return errs, false
}

var (
	recordStartRE = regexp.MustCompile(`(?i)\{\s*"RecordId"\s*:`)
	keyRE         = regexp.MustCompile(`(?i)"(RecordId|Field|ErrorMessage|Message)"\s*:\s*`)
)

// splitRecord reads one {"RecordId":...,"Field":...,"ErrorMessage":...} chunk whose
// string values may hold unescaped quotes and line breaks.
func splitRecord(chunk string) ExecutionError {
	var e ExecutionError
	keys := keyRE.FindAllStringSubmatchIndex(chunk, -1)
	for i, k := range keys {
		end := len(chunk)
		if i+1 < len(keys) {
			end = keys[i+1][0]
		}
		v := chunkValue(chunk[k[1]:end])
		switch strings.ToLower(chunk[k[2]:k[3]]) {
		case "recordid":
			e.RecordID = v
		case "field":
			e.Field = v
		default:
			e.Message = v
		}
	}
	return e
}

// chunkValue extracts a value from the text between its key and the next key (or
// the record's end): a quoted string runs to the last quote; anything else stops at
// the delimiters.
func chunkValue(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		if last := strings.LastIndex(s, `"`); last > 0 {
			return lenientUnescape(s[1:last])
		}
		return lenientUnescape(s[1:])
	}
	return strings.TrimRight(s, " \t\r\n,}]")
}

// lenientUnescape decodes JSON string escapes when s is a valid JSON string body and
// otherwise undoes only the common escapes, leaving stray quotes as they are.
func lenientUnescape(s string) string {
	var out string
	if json.Unmarshal([]byte(`"`+s+`"`), &out) == nil {
		return out
	}
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\/`, "/").Replace(s)
}

// rawText returns a JSON value as text: strings decoded, anything else verbatim.
func rawText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if t := strings.TrimSpace(string(v)); t != "null" {
		return t
	}
	return ""
}
