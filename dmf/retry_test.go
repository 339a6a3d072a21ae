package dmf_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/emulator"
)

// retryLog collects Options.OnRetry calls.
type retryLog struct {
	mu      sync.Mutex
	retries []dmf.Retry
}

func (l *retryLog) record(r dmf.Retry) {
	l.mu.Lock()
	l.retries = append(l.retries, r)
	l.mu.Unlock()
}

func (l *retryLog) all() []dmf.Retry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dmf.Retry(nil), l.retries...)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func sum(ds []time.Duration) time.Duration {
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	return total
}

// F&O refuses connections while Entra ID answers: the call is retried with backoff,
// each retry reported before its wait, until PersistentErrorTimeout.
func TestConnectionRefusedFailsAfterPersistentTimeout(t *testing.T) {
	t.Parallel()
	down := closedPort(t)
	log := &retryLog{}
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.BaseURL = "http://" + down
		o.PersistentErrorTimeout = 30 * time.Second
		o.OnRetry = log.record
	}, nil)
	_, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.Error(t, err)
	assert.True(t, dmf.IsPersistent(err), "%v", err)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.ErrorContains(t, err, "persistent error timeout 30s")

	waits := b.sleeps.recorded()
	retries := log.all()
	require.Len(t, retries, len(waits), "one report before each wait")
	require.GreaterOrEqual(t, len(retries), 3)
	assert.LessOrEqual(t, sum(waits), 30*time.Second, "no wait passes the persistent error timeout")
	assert.Greater(t, sum(waits), 12*time.Second, "it retried for most of it: 2s, 4s, 8s…")
	line := regexp.MustCompile(`^GetAzureWriteUrl: connection refused at ` + regexp.QuoteMeta(down) + `, retry (\d+) in [0-9.]+m?s$`)
	for i, r := range retries {
		assert.Equal(t, "GetAzureWriteUrl", r.Op)
		assert.Equal(t, i+1, r.Attempt)
		assert.Equal(t, waits[i], r.Wait)
		assert.True(t, r.Persistent)
		m := line.FindStringSubmatch(r.String())
		if assert.NotNil(t, m, r.String()) {
			assert.Equal(t, fmt.Sprint(i+1), m[1])
		}
	}
	// Exponential: 2s, 4s, 8s… ±10%.
	assert.InDelta(t, float64(2*time.Second), float64(waits[0]), float64(200*time.Millisecond))
	assert.InDelta(t, float64(4*time.Second), float64(waits[1]), float64(400*time.Millisecond))
}

// With the default PersistentErrorTimeout (the retry deadline) a refused connection
// is ridden out: the call succeeds once the environment is back.
func TestConnectionRefusedRiddenOut(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	em := emulator.New(emulator.Config{})
	t.Cleanup(em.Close)
	log := &retryLog{}
	var srv *httptest.Server
	rec := &sleeper{}
	c, err := dmf.New(dmf.Options{
		BaseURL:      "http://" + addr,
		TokenURL:     "http://" + addr + "/" + emulator.DefaultTenant + "/oauth2/v2.0/token",
		ClientID:     emulator.DefaultClientID,
		ClientSecret: emulator.DefaultClientSecret,
		Sleep:        rec.sleep,
		OnRetry: func(r dmf.Retry) {
			log.record(r)
			if r.Attempt == 3 { // the environment comes back during the third wait
				l, err := net.Listen("tcp", addr)
				if !assert.NoError(t, err) {
					return
				}
				srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: em}}
				srv.Start()
			}
		},
	})
	require.NoError(t, err)
	loc, err := c.GetAzureWriteURL(t.Context(), "")
	t.Cleanup(func() {
		if srv != nil {
			srv.Close()
		}
	})
	require.NoError(t, err)
	assert.NotEmpty(t, loc.BlobURL)
	retries := log.all()
	require.Len(t, retries, 3)
	for _, r := range retries {
		assert.Equal(t, "token", r.Op, "the token fetch met the outage first")
		assert.True(t, r.Persistent)
	}
}

// A wrong secret is a persistent error: retried for PersistentErrorTimeout, reported
// with Entra's AADSTS code, never with the secret.
func TestWrongSecretFailsAfterPersistentTimeout(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-secret-5151"
	log := &retryLog{}
	var logs bytes.Buffer
	var mu sync.Mutex
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.ClientSecret = wrong
		o.PersistentErrorTimeout = 30 * time.Second
		o.OnRetry = log.record
		o.Logger = newLogger(&lockedWriter{w: &logs, mu: &mu})
	}, nil)
	_, err := b.client.GetExecutionSummaryStatus(t.Context(), "X")
	var he *dmf.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
	assert.Equal(t, "invalid_client", he.Code)
	assert.True(t, dmf.IsPersistent(err))
	assert.NotContains(t, err.Error(), wrong)
	assert.LessOrEqual(t, sum(b.sleeps.recorded()), 30*time.Second)
	retries := log.all()
	require.NotEmpty(t, retries)
	for _, r := range retries {
		assert.Regexp(t, `^token: HTTP 401 invalid_client: AADSTS7000215: Invalid client secret provided, retry \d+ in `, r.String())
		assert.NotContains(t, r.String(), wrong)
		assert.NotContains(t, r.Err.Error(), wrong)
	}
	assert.Equal(t, int64(len(retries)+1), b.em.Stats().Requests["token.v2"])
	mu.Lock()
	defer mu.Unlock()
	assert.NotContains(t, logs.String(), wrong)
	assert.Contains(t, logs.String(), "level=DEBUG msg=\"dmf: token: HTTP 401", "with OnRetry set, the log keeps retries at debug")
}

// Without OnRetry the retries are logged at warn, in the same words.
func TestRetriesLoggedAtWarnByDefault(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	var calls atomic.Int64
	b := setup(t, emulator.Config{}, func(o *dmf.Options) {
		o.Logger = newLogger(&lockedWriter{w: &logs, mu: &mu})
	}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".GetExecutionSummaryStatus") && calls.Add(1) == 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, err := b.client.GetExecutionSummaryStatus(t.Context(), "X")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Regexp(t, `level=WARN msg="dmf: GetExecutionSummaryStatus: HTTP 502, retry 1 in [0-9.]+s" op=GetExecutionSummaryStatus attempt=1 wait=[0-9.]+s persistent=false`, logs.String())
}

func TestCheck(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{}, nil, nil)
	require.NoError(t, b.client.Check(t.Context()))
	st := b.em.Stats()
	assert.Equal(t, int64(1), st.Requests["token.v2"])
	assert.Equal(t, int64(1), st.Requests["GET /data/DataManagementDefinitionGroups"])
	_, err := b.client.GetAzureWriteURL(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, int64(1), b.em.Stats().Requests["token.v2"], "the checked token serves the next calls")
	assert.Empty(t, b.sleeps.recorded())
	b.noViolations(t)

	// Check always fetches a new token: the one in the cache may have been revoked.
	require.NoError(t, b.client.Check(t.Context()))
	assert.Equal(t, int64(2), b.em.Stats().Requests["token.v2"])
}

// Check reports persistent failures at once, in plain words, without a retry.
func TestCheckFailsFast(t *testing.T) {
	t.Parallel()
	forbidden := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/data/DataManagementDefinitionGroups" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":{"code":"","message":"Access denied to DataManagementDefinitionGroups. Contact your administrator."}}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	down := closedPort(t)
	for _, tc := range []struct {
		name   string
		mutate func(*dmf.Options)
		wrap   func(http.Handler) http.Handler
		want   string
	}{
		{"wrong secret", func(o *dmf.Options) { o.ClientSecret = "wrong-secret-7" }, nil,
			"Entra ID rejected the client credentials (AADSTS7000215: Invalid client secret provided)"},
		{"unknown client", func(o *dmf.Options) { o.ClientID = "someone-else" }, nil,
			"Entra ID rejected the client credentials (AADSTS700016: Application with identifier 'someone-else' was not found in the directory 'dmfpipe-emulator-tenant')"},
		{"F&O refuses connections", func(o *dmf.Options) { o.BaseURL = "http://" + down }, nil,
			"cannot reach F&O at http://" + down + ": connection refused at " + down},
		{"token endpoint refuses connections", func(o *dmf.Options) { o.TokenURL = "http://" + down + "/t/oauth2/v2.0/token" }, nil,
			"cannot get a token from http://" + down + "/t/oauth2/v2.0/token: connection refused at " + down},
		{"403", nil, forbidden,
			"denied access (HTTP 403: Access denied to DataManagementDefinitionGroups); check the security roles of the user the application is mapped to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &retryLog{}
			b := setup(t, emulator.Config{}, func(o *dmf.Options) {
				o.OnRetry = log.record
				if tc.mutate != nil {
					tc.mutate(o)
				}
			}, tc.wrap)
			err := b.client.Check(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "wrong-secret-7")
			assert.Empty(t, log.all(), "no retry")
			assert.Empty(t, b.sleeps.recorded())
		})
	}
}

// Throttling is not a reason to fail a check: Check waits it out like any call.
func TestCheckRetriesThrottling(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	log := &retryLog{}
	b := setup(t, emulator.Config{}, func(o *dmf.Options) { o.OnRetry = log.record }, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/data/DataManagementDefinitionGroups" && calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "4")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	require.NoError(t, b.client.Check(t.Context()))
	retries := log.all()
	require.Len(t, retries, 1)
	assert.Equal(t, "DataManagementDefinitionGroups", retries[0].Op)
	assert.False(t, retries[0].Persistent)
	assert.InDelta(t, float64(4*time.Second), float64(retries[0].Wait), float64(400*time.Millisecond))
}

// An untrusted certificate is persistent; Check names it.
func TestCheckUntrustedCertificate(t *testing.T) {
	t.Parallel()
	em := emulator.New(emulator.Config{})
	t.Cleanup(em.Close)
	srv := httptest.NewTLSServer(em)
	t.Cleanup(srv.Close)
	log := &retryLog{}
	c, err := dmf.New(dmf.Options{
		BaseURL: srv.URL, TokenURL: srv.URL + "/" + emulator.DefaultTenant + "/oauth2/v2.0/token",
		ClientID: emulator.DefaultClientID, ClientSecret: emulator.DefaultClientSecret,
		Sleep: (&sleeper{}).sleep, OnRetry: log.record, PersistentErrorTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	err = c.Check(t.Context())
	require.Error(t, err)
	assert.Regexp(t, `^cannot get a token from https://127\.0\.0\.1:\d+/\S+: TLS certificate not trusted: x509: `, err.Error())
	assert.True(t, dmf.IsPersistent(err))
	assert.Empty(t, log.all())

	_, err = c.GetExportedPackageURL(t.Context(), "E")
	require.Error(t, err)
	assert.True(t, dmf.IsPersistent(err))
	require.NotEmpty(t, log.all(), "an ordinary call retries it, for PersistentErrorTimeout")
	assert.Contains(t, log.all()[0].String(), "token: TLS certificate not trusted: x509: ")

	// Trusting the server's certificate (the HTTP client is injected) cures it.
	c, err = dmf.New(dmf.Options{
		BaseURL: srv.URL, TokenURL: srv.URL + "/" + emulator.DefaultTenant + "/oauth2/v2.0/token",
		ClientID: emulator.DefaultClientID, ClientSecret: emulator.DefaultClientSecret, HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	require.NoError(t, c.Check(t.Context()))
}

func TestIsPersistent(t *testing.T) {
	t.Parallel()
	assert.False(t, dmf.IsPersistent(nil))
	assert.False(t, dmf.IsPersistent(errors.New("boom")))
	assert.True(t, dmf.IsPersistent(fmt.Errorf("wrapped: %w", &dmf.HTTPError{Op: "GetAzureWriteUrl", StatusCode: 403})))
	assert.True(t, dmf.IsPersistent(&dmf.HTTPError{Op: "token", StatusCode: 401, Code: "invalid_client"}))
	assert.True(t, dmf.IsPersistent(&dmf.HTTPError{Op: "token", StatusCode: 400, Code: "invalid_client"}))
	assert.False(t, dmf.IsPersistent(&dmf.HTTPError{Op: "token", StatusCode: 429}))
	assert.False(t, dmf.IsPersistent(&dmf.HTTPError{Op: "GetAzureWriteUrl", StatusCode: 401}), "F&O's 401 is answered by a new token")
	assert.False(t, dmf.IsPersistent(&dmf.HTTPError{Op: "GetAzureWriteUrl", StatusCode: 503}))
	assert.True(t, dmf.IsPersistent(&net.DNSError{Name: "x.invalid", IsNotFound: true}))
	assert.False(t, dmf.IsPersistent(&net.DNSError{Name: "x", IsTemporary: true}), "a resolver hiccup is transient")
	assert.True(t, dmf.IsPersistent(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}))
	assert.False(t, dmf.IsPersistent(&net.OpError{Op: "read", Err: syscall.ECONNRESET}))
}
