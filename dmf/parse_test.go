package dmf

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnwrapValue(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"flat":          `{"@odata.context":"x/$metadata#Edm.String","value":"EXEC-1"}`,
		"nested":        `{"@odata.context":"x","value":{"value":"EXEC-1"}}`,
		"double nested": `{"value":{"@odata.context":"y","value":{"value":"EXEC-1"}}}`,
	} {
		s, err := valueString([]byte(body))
		require.NoError(t, err, name)
		assert.Equal(t, "EXEC-1", s, name)
	}
	s, err := valueString([]byte(`{"value":null}`))
	require.NoError(t, err)
	assert.Equal(t, "", s)
	_, err = valueString([]byte(`{"other":1}`))
	assert.Error(t, err)
	_, err = valueString([]byte(`{"value":12}`))
	assert.Error(t, err)

	for body, want := range map[string]bool{
		`{"value":true}`: true, `{"value":false}`: false, `{"value":"True"}`: true, `{"value":{"value":true}}`: true,
	} {
		b, err := valueBool([]byte(body))
		require.NoError(t, err, body)
		assert.Equal(t, want, b, body)
	}
}

func TestParseExecutionErrors(t *testing.T) {
	t.Parallel()
	errs, strict := parseExecutionErrors(`[{"RecordId":"5637144576","Field":"CUSTOMERGROUPID","ErrorMessage":"Group \"99\" does not exist."},{"RecordId":7,"ErrorMessage":"x"}]`)
	assert.True(t, strict)
	assert.Equal(t, []ExecutionError{
		{RecordID: "5637144576", Field: "CUSTOMERGROUPID", Message: `Group "99" does not exist.`},
		{RecordID: "7", Message: "x"},
	}, errs)

	errs, strict = parseExecutionErrors("[]")
	assert.True(t, strict)
	assert.Empty(t, errs)

	// Unescaped quotes and a raw line break inside messages, as some environments send.
	broken := "[{\"RecordId\":\"1\",\"Field\":\"NAME\",\"ErrorMessage\":\"Value \"A, B\" is\ntoo long\"}," +
		"{\"RecordId\":\"2\",\"Field\":\"\",\"ErrorMessage\":\"Field \"X\" missing: {\"RecordId\" literal}\"}]"
	errs, strict = parseExecutionErrors(broken)
	assert.False(t, strict)
	require.Len(t, errs, 2)
	assert.Equal(t, ExecutionError{RecordID: "1", Field: "NAME", Message: "Value \"A, B\" is\ntoo long"}, errs[0])
	assert.Equal(t, "2", errs[1].RecordID)
	assert.Equal(t, "", errs[1].Field)
	assert.Contains(t, errs[1].Message, `Field "X" missing`)

	errs, strict = parseExecutionErrors("Something went wrong")
	assert.False(t, strict)
	assert.Equal(t, []ExecutionError{{Message: "Something went wrong"}}, errs)
}

func TestErrorsValueTextFromBrokenBody(t *testing.T) {
	t.Parallel()
	// The whole body is invalid JSON: the array was embedded without escaping.
	body := `{"@odata.context":"x","value":"[{"RecordId":"1","Field":"F","ErrorMessage":"bad "q""}]"}`
	text, err := errorsValueText([]byte(body))
	require.NoError(t, err)
	errs, _ := parseExecutionErrors(text)
	assert.Equal(t, []ExecutionError{{RecordID: "1", Field: "F", Message: `bad "q"`}}, errs)

	text, err = errorsValueText([]byte(`{"value":"[{\"RecordId\":\"1\",\"ErrorMessage\":\"ok\"}]"}`))
	require.NoError(t, err)
	errs, strict := parseExecutionErrors(text)
	assert.True(t, strict)
	assert.Equal(t, []ExecutionError{{RecordID: "1", Message: "ok"}}, errs)

	text, err = errorsValueText([]byte(`{"value":[{"RecordId":"3","ErrorMessage":"array"}]}`))
	require.NoError(t, err)
	errs, _ = parseExecutionErrors(text)
	assert.Equal(t, []ExecutionError{{RecordID: "3", Message: "array"}}, errs)
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	assert.Equal(t, 7*time.Second, retryAfter("7", now))
	assert.Equal(t, 30*time.Second, retryAfter("", now))
	assert.Equal(t, 30*time.Second, retryAfter("soon", now))
	assert.Equal(t, time.Duration(0), retryAfter("-3", now))
	assert.Equal(t, 12*time.Second, retryAfter(now.Add(12*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), retryAfter(now.Add(-time.Minute).Format(http.TimeFormat), now))
	for range 100 {
		j := jitter(10 * time.Second)
		assert.GreaterOrEqual(t, j, 9*time.Second)
		assert.LessOrEqual(t, j, 11*time.Second)
	}
}

func TestParseMessageID(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`"8c4f9b0e-1111-2222-3333-444455556666"`:          "8c4f9b0e-1111-2222-3333-444455556666",
		" \"{8C4F9B0E-1111-2222-3333-444455556666}\"\r\n": "8C4F9B0E-1111-2222-3333-444455556666",
		`8c4f9b0e-1111-2222-3333-444455556666`:            "8c4f9b0e-1111-2222-3333-444455556666",
		`{"value":"8c4f9b0e-1111"}`:                       "8c4f9b0e-1111",
	} {
		assert.Equal(t, want, parseMessageID([]byte(body)), body)
	}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	assert.Equal(t, StatusPartiallySucceeded, ParseExecutionStatus(" partiallysucceeded "))
	assert.True(t, ParseExecutionStatus("UNKNOWN").Terminal())
	queued := ParseExecutionStatus("Queued")
	assert.Equal(t, ExecutionStatus("Queued"), queued)
	assert.False(t, queued.Terminal())
	assert.False(t, queued.Known())
	assert.False(t, StatusExecuting.Terminal())

	for in, want := range map[string]MessageStatus{
		"Preprocessing": MessagePreprocessing, "PreProcessing": MessagePreprocessing,
		"PostProcessingFailed": MessagePostProcessingFailed, "PostProcessingError": MessagePostProcessingFailed,
		"downloaded": MessageDownloaded, "PROCESSEDWITHERRORS": MessageProcessedWithErrors,
	} {
		assert.Equal(t, want, ParseMessageStatus(in), in)
	}
	assert.True(t, MessagePostProcessingFailed.Terminal())
	assert.False(t, MessagePreprocessing.Terminal())
	assert.Equal(t, MessageStatus("ProcessingError"), ParseMessageStatus("ProcessingError"))
}

func TestOptionsNormalize(t *testing.T) {
	t.Parallel()
	base := Options{BaseURL: "https://contoso.operations.dynamics.com/", Tenant: "contoso.onmicrosoft.com",
		ClientID: "id", ClientSecret: "s3cret"}
	o := base
	require.NoError(t, o.normalize())
	assert.Equal(t, "https://contoso.operations.dynamics.com", o.BaseURL)
	assert.Equal(t, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", o.TokenURL)
	assert.Equal(t, 600, o.MaxRequestsPerMinute)
	assert.Equal(t, int64(128<<20), o.BlockUploadThreshold)
	assert.Equal(t, 5*time.Second, o.Poll.Initial)
	assert.Equal(t, 2*time.Hour, o.Poll.Deadline)

	o = base
	o.TokenVersion = "V1"
	require.NoError(t, o.normalize())
	assert.Equal(t, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token", o.TokenURL)

	for _, ok := range []string{"http://127.0.0.1:8089", "http://localhost:1", "http://[::1]:80", "http://127.3.4.5"} {
		o = base
		o.BaseURL = ok
		assert.NoError(t, o.normalize(), ok)
	}
	for _, bad := range []string{"http://contoso.operations.dynamics.com", "http://10.0.0.1", "ftp://127.0.0.1", "contoso", ""} {
		o = base
		o.BaseURL = bad
		assert.Error(t, o.normalize(), bad)
	}
	o = base
	o.TokenURL = "http://login.example.com/token"
	assert.ErrorIs(t, o.normalize(), ErrInsecureURL)
	o = base
	o.ClientSecret = ""
	assert.Error(t, o.normalize())
	o = base
	o.Tenant = ""
	assert.Error(t, o.normalize())
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "https://acct.blob.core.windows.net/dmf/x.zip?…",
		redactURL("https://acct.blob.core.windows.net/dmf/x.zip?sv=2020&sig=SECRET"))
	assert.Equal(t, "https://h/p", redactURL("https://user:pw@h/p"))
	assert.NotContains(t, redactURL("::bad?sig=SECRET"), "SECRET")
}

func TestDownloadURLRewrite(t *testing.T) {
	t.Parallel()
	c, err := New(Options{BaseURL: "https://contoso.operations.dynamics.com", Tenant: "t", ClientID: "i", ClientSecret: "s"})
	require.NoError(t, err)
	u, err := c.downloadURL("http://contoso.operations.dynamics.com:80/api/connector/download/%7BA%7D?correlation-id=1&blob=2")
	require.NoError(t, err)
	assert.Equal(t, "https://contoso.operations.dynamics.com/api/connector/download/%7BA%7D?correlation-id=1&blob=2", u)
	_, err = c.downloadURL("https://evil.example.com/api/connector/download/x")
	assert.Error(t, err, "the token must not go to another host")

	local, err := New(Options{BaseURL: "http://127.0.0.1:8089", Tenant: "t", ClientID: "i", ClientSecret: "s"})
	require.NoError(t, err)
	u, err = local.downloadURL("http://127.0.0.1:80/api/connector/download/x?blob=1")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8089/api/connector/download/x?blob=1", u, "a loopback http base keeps http, on its own port")
}

func TestHTTPErrorBodies(t *testing.T) {
	t.Parallel()
	e := newHTTPError("ImportFromPackage", "POST", "https://h/data/x?sig=S", 400,
		[]byte(`{"error":{"code":"","message":"outer","innererror":{"message":"Entity 'X' does not exist"}}}`))
	assert.Equal(t, "Entity 'X' does not exist", e.Message)
	assert.NotContains(t, e.Error(), "sig=S")

	e = newHTTPError("token", "POST", "https://login/t", 401,
		[]byte(`{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`))
	assert.Equal(t, "invalid_client", e.Code)
	assert.Equal(t, "AADSTS7000215: Invalid client secret provided.", e.Message)

	e = newHTTPError("blob upload", "PUT", "https://a/dmf/x", 403,
		[]byte(`<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Signature did not match.
RequestId:1</Message></Error>`))
	assert.Equal(t, "AuthenticationFailed", e.Code)
	assert.Equal(t, "Signature did not match.", e.Message)

	assert.True(t, IsExecutionNotFound(newHTTPError("GetExecutionSummaryStatus", "POST", "u", 400,
		[]byte(`{"error":{"message":"The execution records were not found."}}`))))
}

// An unknown host is a persistent error: retried with backoff, but only for
// PersistentErrorTimeout (it used to fail at once; a server now rides out a DNS
// outage), and Check reports it without retrying.
func TestUnknownHostIsPersistent(t *testing.T) {
	t.Parallel()
	rec := &sleepRecorder{}
	var retries []Retry
	c, err := New(Options{BaseURL: "https://dmfpipe-no-such-host.invalid", TokenURL: "https://dmfpipe-no-such-host.invalid/t/oauth2/v2.0/token",
		ClientID: "i", ClientSecret: "s", Sleep: rec.sleep, PersistentErrorTimeout: 10 * time.Second,
		OnRetry: func(r Retry) { retries = append(retries, r) }})
	require.NoError(t, err)
	_, err = c.GetExecutionSummaryStatus(t.Context(), "E")
	require.Error(t, err)
	assert.True(t, IsPersistent(err), "%v", err)
	assert.ErrorContains(t, err, "persistent error timeout 10s")
	var total time.Duration
	for _, w := range rec.all() {
		total += w
	}
	assert.LessOrEqual(t, total, 10*time.Second)
	require.Len(t, retries, len(rec.all()))
	require.NotEmpty(t, retries)
	for i, r := range retries {
		assert.Equal(t, opToken, r.Op)
		assert.Equal(t, i+1, r.Attempt)
		assert.True(t, r.Persistent)
		assert.Contains(t, r.String(), "token: unknown host dmfpipe-no-such-host.invalid, retry ")
	}

	waits := len(rec.all())
	err = c.Check(t.Context())
	require.Error(t, err)
	assert.Equal(t, "cannot get a token from https://dmfpipe-no-such-host.invalid/t/oauth2/v2.0/token: unknown host dmfpipe-no-such-host.invalid", err.Error())
	assert.True(t, IsPersistent(err))
	assert.Len(t, rec.all(), waits, "Check does not retry a persistent error")
}
