package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is written by the command's goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestEmulatorCommandServesUntilCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	root := newRootCmd()
	root.SetArgs([]string{"emulator", "--addr", "127.0.0.1:0", "--fault-not-found", "1",
		"--export-project", "CUST-OUT=Customers V3@USMF", "--recurring-import", "{6d31e09f-0249-459f-94f0-aad9c4e5ae3c}=Customers V3"})
	root.SetOut(&out)
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	tokenRe := regexp.MustCompile(`token_url: (http://\S+)`)
	var m []string
	require.Eventually(t, func() bool {
		m = tokenRe.FindStringSubmatch(out.String())
		return m != nil
	}, 10*time.Second, 5*time.Millisecond)
	text := out.String()
	assert.Contains(t, text, "client_id: dmfpipe-emulator")
	assert.Contains(t, text, "client_secret: dmfpipe-emulator-secret")
	assert.Contains(t, text, "environments:\n  emulator:\n    url: http://127.0.0.1:")
	base := strings.TrimSuffix(m[1], "/dmfpipe-emulator-tenant/oauth2/v2.0/token")

	resp, err := http.PostForm(m[1], url.Values{"grant_type": {"client_credentials"}, "client_id": {"dmfpipe-emulator"},
		"client_secret": {"dmfpipe-emulator-secret"}, "scope": {base + "/.default"}})
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, base+"/metadata/DataEntities", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()

	resp, err = http.Get(base + "/_emulator/faults")
	require.NoError(t, err)
	var faults map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&faults))
	resp.Body.Close()
	assert.Equal(t, float64(1), faults["not_found_after_import"])
	assert.Equal(t, "1s", faults["retry_after"])

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop")
	}
	assert.Contains(t, out.String(), "emulator stopped")
}

func TestEmulatorCommandRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"emulator", "--fault-429", "1.5"},
		{"emulator", "--export-project", "NOENTITY"},
		{"emulator", "--export-project", "G=Customers V9"},
		{"emulator", "--recurring-export", "abc"},
		{"emulator", "--fault-latency", "soon"},
	} {
		_, code := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, args)
	}
}

func TestParseJobSpec(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][3]string{
		"G=Customers V3@USMF": {"G", "Customers V3", "USMF"},
		"{ID}":                {"{ID}", "", ""},
		"ID@DAT":              {"ID", "", "DAT"},
		"ID=General journal":  {"ID", "General journal", ""},
	} {
		n, tgt, le, ok := parseJobSpec(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, [3]string{n, tgt, le}, in)
	}
	for _, bad := range []string{"", "=X", "G=X@"} {
		_, _, _, ok := parseJobSpec(bad)
		assert.False(t, ok, bad)
	}
}
