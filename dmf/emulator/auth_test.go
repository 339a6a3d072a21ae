package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

func TestTokenV2(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{TokenTTL: 10 * time.Minute})
	status, body := b.tokenRequest("/"+emulator.DefaultTenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultClientID},
		"client_secret": {emulator.DefaultClientSecret}, "scope": {b.srv.URL + "/.default"},
	})
	require.Equal(t, http.StatusOK, status, string(body))
	var tok map[string]any
	require.NoError(t, json.Unmarshal(body, &tok))
	assert.Equal(t, "Bearer", tok["token_type"])
	assert.Equal(t, float64(600), tok["expires_in"], "v2 expires_in is a number")
	assert.NotEmpty(t, tok["access_token"])
	assert.Empty(t, b.em.Stats().ProtocolViolations)
}

func TestTokenV1(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	status, body := b.tokenRequest("/"+emulator.DefaultTenant+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultClientID},
		"client_secret": {emulator.DefaultClientSecret}, "resource": {b.srv.URL},
	})
	require.Equal(t, http.StatusOK, status, string(body))
	var tok map[string]any
	require.NoError(t, json.Unmarshal(body, &tok))
	assert.Equal(t, "3599", tok["expires_in"], "v1 expires_in is a string")
	on, err := strconv.ParseInt(tok["expires_on"].(string), 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Add(3599*time.Second).Unix(), on, 5)
	assert.Equal(t, b.srv.URL, tok["resource"])

	// The v1 token works on F&O endpoints.
	b.token = tok["access_token"].(string)
	assert.Equal(t, "Unknown", b.str("GetExecutionSummaryStatus", map[string]string{"executionId": "nope"}))
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultClientID},
			"client_secret": {emulator.DefaultClientSecret}, "scope": {b.srv.URL + "/.default"}}
	}
	v2 := "/" + emulator.DefaultTenant + "/oauth2/v2.0/token"
	cases := []struct {
		name   string
		path   string
		change func(url.Values)
		status int
		code   string
	}{
		{"wrong secret", v2, func(v url.Values) { v.Set("client_secret", "nope") }, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", v2, func(v url.Values) { v.Set("client_id", "other") }, http.StatusBadRequest, "unauthorized_client"},
		{"grant type", v2, func(v url.Values) { v.Set("grant_type", "password") }, http.StatusBadRequest, "unsupported_grant_type"},
		{"scope without .default", v2, func(v url.Values) { v.Set("scope", b.srv.URL) }, http.StatusBadRequest, "invalid_scope"},
		{"no scope", v2, func(v url.Values) { v.Del("scope") }, http.StatusBadRequest, "invalid_request"},
		{"unknown tenant", "/other-tenant/oauth2/v2.0/token", func(url.Values) {}, http.StatusBadRequest, "invalid_request"},
		{"v1 without resource", "/" + emulator.DefaultTenant + "/oauth2/token", func(url.Values) {}, http.StatusBadRequest, "invalid_request"},
	}
	for _, c := range cases {
		form := good()
		c.change(form)
		status, body := b.tokenRequest(c.path, form)
		assert.Equal(t, c.status, status, c.name)
		var e map[string]any
		require.NoError(t, json.Unmarshal(body, &e), c.name)
		assert.Equal(t, c.code, e["error"], c.name)
		assert.Contains(t, e["error_description"], "AADSTS", c.name)
		assert.NotEmpty(t, e["error_codes"], c.name)
		assert.NotEmpty(t, e["trace_id"], c.name)
	}

	// JSON instead of a form is refused and recorded.
	resp := b.do(http.MethodPost, v2, []byte(`{"grant_type":"client_credentials"}`), map[string]string{"Content-Type": "application/json"}, false)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp.Body.Close()
	assert.Contains(t, b.em.Stats().ProtocolViolations[0], "Content-Type")
}

func TestTrailingSlashOnResourceIsAViolation(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	status, _ := b.tokenRequest("/"+emulator.DefaultTenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {emulator.DefaultClientID},
		"client_secret": {emulator.DefaultClientSecret}, "scope": {b.srv.URL + "//.default"},
	})
	assert.Equal(t, http.StatusOK, status, "accepted, but recorded")
	v := b.em.Stats().ProtocolViolations
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "trailing slash")
}

func TestBearerTokenRequired(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}
	b := setup(t, emulator.Config{Now: clock.Now})
	body := []byte(`{"executionId":"x"}`)
	hdr := map[string]string{"Content-Type": "application/json"}

	resp := b.do(http.MethodPost, actionBase+"GetExecutionSummaryStatus", body, hdr, false)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
	resp.Body.Close()

	hdr["Authorization"] = "Bearer not-a-token"
	resp = b.do(http.MethodPost, actionBase+"GetExecutionSummaryStatus", body, hdr, false)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp.Body.Close()

	resp = b.do(http.MethodGet, "/metadata/DataEntities", nil, nil, true)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()

	clock.Advance(3600 * time.Second) // past expires_in
	resp = b.do(http.MethodGet, "/metadata/DataEntities", nil, nil, true)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "expired token")
	resp.Body.Close()
	assert.Equal(t, int64(3), b.em.Stats().Unauthorized)
}
