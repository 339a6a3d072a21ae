package dmf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "test-secret-value-7f3a"

// sleepRecorder stands in for Options.Sleep: it records the requested waits and
// returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// fakeFO is a scripted F&O for transport tests: a token endpoint plus a handler for
// everything else.
type fakeFO struct {
	tokenRequests atomic.Int64
	tokenForms    chan url.Values
	tokenReply    func(w http.ResponseWriter, n int64)
	api           http.HandlerFunc
}

func (f *fakeFO) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/token") {
		n := f.tokenRequests.Add(1)
		_ = r.ParseForm()
		if f.tokenForms != nil {
			f.tokenForms <- r.PostForm
		}
		// As Entra ID does; oauth2 reads text/plain (Go's sniffed default) as a form.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if f.tokenReply != nil {
			f.tokenReply(w, n)
			return
		}
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok-%d"}`, n)
		return
	}
	f.api(w, r)
}

func newFakeClient(t *testing.T, f *fakeFO, mutate func(*Options)) (*Client, *sleepRecorder) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	rec := &sleepRecorder{}
	o := Options{
		BaseURL: srv.URL, TokenURL: srv.URL + "/tenant/oauth2/v2.0/token",
		ClientID: "client", ClientSecret: testSecret,
		MaxRequestsPerMinute: 60_000, Sleep: rec.sleep,
		RetryBackoff: time.Second, RetryBackoffMax: 8 * time.Second,
	}
	if mutate != nil {
		mutate(&o)
	}
	c, err := New(o)
	require.NoError(t, err)
	return c, rec
}

func TestTokenRequestForms(t *testing.T) {
	t.Parallel()
	for _, version := range []string{TokenV2, TokenV1} {
		f := &fakeFO{tokenForms: make(chan url.Values, 1), api: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"value":"Succeeded"}`)
		}}
		c, _ := newFakeClient(t, f, func(o *Options) { o.TokenVersion = version; o.BaseURL += "/" })
		_, err := c.GetExecutionSummaryStatus(t.Context(), "E1")
		require.NoError(t, err)
		form := <-f.tokenForms
		assert.Equal(t, "client_credentials", form.Get("grant_type"))
		assert.Equal(t, "client", form.Get("client_id"))
		assert.Equal(t, testSecret, form.Get("client_secret"))
		if version == TokenV2 {
			assert.Equal(t, c.BaseURL()+"/.default", form.Get("scope"))
			assert.Empty(t, form.Get("resource"))
		} else {
			assert.Equal(t, c.BaseURL(), form.Get("resource"), "no trailing slash on the resource")
			assert.Empty(t, form.Get("scope"))
		}
		assert.False(t, strings.HasSuffix(c.BaseURL(), "/"))
	}
}

func TestTokenCachingAndRefresh(t *testing.T) {
	t.Parallel()
	var auths sync.Map
	api := func(w http.ResponseWriter, r *http.Request) {
		auths.Store(r.Header.Get("Authorization"), true)
		fmt.Fprint(w, `{"value":"Executing"}`)
	}
	// A v1-style answer: expires_in as a string. An hour is cached.
	f := &fakeFO{api: api, tokenReply: func(w http.ResponseWriter, n int64) {
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":"3599","expires_on":"%d","access_token":"tok-%d"}`,
			time.Now().Add(time.Hour).Unix(), n)
	}}
	c, _ := newFakeClient(t, f, nil)
	for range 3 {
		_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), f.tokenRequests.Load())
	_, ok := auths.Load("Bearer tok-1")
	assert.True(t, ok)

	// A token with less than five minutes left is replaced before every call.
	short := &fakeFO{api: api, tokenReply: func(w http.ResponseWriter, n int64) {
		fmt.Fprintf(w, `{"expires_in":240,"access_token":"short-%d"}`, n)
	}}
	c, _ = newFakeClient(t, short, nil)
	for range 3 {
		_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), short.tokenRequests.Load())

	// expires_on alone (epoch seconds as a string) also works.
	on := &fakeFO{api: api, tokenReply: func(w http.ResponseWriter, n int64) {
		fmt.Fprintf(w, `{"expires_on":"%d","access_token":"on-%d"}`, time.Now().Add(time.Hour).Unix(), n)
	}}
	c, _ = newFakeClient(t, on, nil)
	for range 2 {
		_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), on.tokenRequests.Load())
}

func TestTokenSingleFlight(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	f := &fakeFO{
		api: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"value":"Executing"}`) },
		tokenReply: func(w http.ResponseWriter, n int64) {
			<-gate
			fmt.Fprintf(w, `{"expires_in":3599,"access_token":"tok-%d"}`, n)
		},
	}
	c, _ := newFakeClient(t, f, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
			assert.NoError(t, err)
		})
	}
	// Whenever a caller arrives (before or after the fetch), it never starts a second
	// one: either it joins the flight or it finds the cached token.
	close(gate)
	wg.Wait()
	assert.Equal(t, int64(1), f.tokenRequests.Load())
}

func TestTokenErrorsHideSecret(t *testing.T) {
	t.Parallel()
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) { t.Error("no API call without a token") },
		tokenReply: func(w http.ResponseWriter, _ int64) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)
		}}
	var logs bytes.Buffer
	c, _ := newFakeClient(t, f, func(o *Options) { o.Logger = newTestLogger(&logs) })
	_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
	require.Error(t, err)
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "invalid_client", he.Code)
	assert.NotContains(t, err.Error(), testSecret)
	assert.NotContains(t, logs.String(), testSecret)
}

func TestRetry429EverywhereHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	f := &fakeFO{
		tokenReply: func(w http.ResponseWriter, n int64) {
			if n == 1 {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			fmt.Fprintf(w, `{"expires_in":3599,"access_token":"tok-%d"}`, n)
		},
		api: func(w http.ResponseWriter, r *http.Request) {
			switch calls.Add(1) {
			case 1:
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(http.StatusTooManyRequests)
			case 2:
				w.Header().Set("Retry-After", date)
				w.WriteHeader(http.StatusTooManyRequests)
			case 3:
				w.WriteHeader(http.StatusTooManyRequests) // no header: 30 s
			default:
				fmt.Fprint(w, `{"value":"Succeeded"}`)
			}
		}}
	c, rec := newFakeClient(t, f, nil)
	st, err := c.GetExecutionSummaryStatus(t.Context(), "E")
	require.NoError(t, err)
	assert.Equal(t, StatusSucceeded, st)
	waits := rec.all()
	require.Len(t, waits, 4, "one wait for the token, three for the action")
	assertWithin := func(got, want time.Duration, spread float64) {
		t.Helper()
		assert.InDelta(t, float64(want), float64(got), float64(want)*spread, "wait %s, want %s", got, want)
	}
	assertWithin(waits[0], 3*time.Second, 0.1)
	assertWithin(waits[1], 7*time.Second, 0.1)
	assertWithin(waits[2], 20*time.Second, 0.2) // the date has one-second resolution
	assertWithin(waits[3], 30*time.Second, 0.1)
}

func TestRetry5xxBackoffAndNonIdempotent(t *testing.T) {
	t.Parallel()
	var statusCalls, enqueueCalls atomic.Int64
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/api/connector/enqueue/") {
			enqueueCalls.Add(1)
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if statusCalls.Add(1) <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"value":"Executing"}`)
	}}
	c, rec := newFakeClient(t, f, nil)
	st, err := c.GetExecutionSummaryStatus(t.Context(), "E")
	require.NoError(t, err)
	assert.Equal(t, StatusExecuting, st)
	waits := rec.all()
	require.Len(t, waits, 4)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		assert.InDelta(t, float64(want), float64(waits[i]), float64(want)*0.1, "backoff %d", i)
	}

	_, err = c.Enqueue(t.Context(), EnqueueRequest{ActivityID: "A", Body: strings.NewReader("x"), Size: 1})
	require.ErrorIs(t, err, ErrResponseLost)
	assert.Equal(t, int64(1), enqueueCalls.Load(), "a non-idempotent call is never re-sent after a 5xx")
}

func TestRetryDeadline(t *testing.T) {
	t.Parallel()
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}}
	c, rec := newFakeClient(t, f, func(o *Options) { o.RetryDeadline = time.Minute })
	_, err := c.GetExportedPackageURL(t.Context(), "E")
	require.ErrorContains(t, err, "retry deadline")
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusTooManyRequests, he.StatusCode)
	assert.Empty(t, rec.all(), "a wait beyond the deadline is not started")
}

func TestUnauthorizedRefreshesTokenOnce(t *testing.T) {
	t.Parallel()
	f := &fakeFO{}
	f.api = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"value":"Succeeded"}`)
	}
	c, _ := newFakeClient(t, f, nil)
	_, err := c.GetExecutionSummaryStatus(t.Context(), "E")
	require.NoError(t, err)
	assert.Equal(t, int64(2), f.tokenRequests.Load())

	always := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }}
	c, _ = newFakeClient(t, always, nil)
	_, err = c.GetExecutionSummaryStatus(t.Context(), "E")
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
	assert.Equal(t, int64(2), always.tokenRequests.Load())
}

func TestDownloadRestartsIntoFile(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte("0123456789"), 10_000)
	var calls atomic.Int64
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Authorization"), "no bearer token on a SAS URL")
		w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
		if calls.Add(1) == 1 {
			// Send half the body, then drop the connection.
			_, _ = w.Write(payload[:len(payload)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			conn.Close()
			return
		}
		_, _ = w.Write(payload)
	}}
	c, _ := newFakeClient(t, f, nil)
	path := filepath.Join(t.TempDir(), "pkg.zip")
	out, err := os.Create(path)
	require.NoError(t, err)
	defer out.Close()
	n, err := c.DownloadBlob(t.Context(), c.BaseURL()+"/devstoreaccount1/dmf/x.zip?sig=S", out)
	require.NoError(t, err)
	assert.Equal(t, int64(len(payload)), n)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.Equal(t, int64(2), calls.Load())

	// A plain writer cannot be rewound: the broken download fails instead of
	// producing a doubled file.
	calls.Store(0)
	var buf bytes.Buffer
	_, err = c.DownloadBlob(t.Context(), c.BaseURL()+"/devstoreaccount1/dmf/x.zip?sig=SECRET", &buf)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestLimiterSharedPerEnvironment(t *testing.T) {
	t.Parallel()
	a := limiterFor("https://shared-limiter.example.com", 120)
	b := limiterFor("HTTPS://SHARED-LIMITER.example.com", 120)
	assert.Same(t, a, b)
	assert.InDelta(t, 2.0, float64(a.lim.Limit()), 1e-9)
	assert.NotSame(t, a, limiterFor("https://other-limiter.example.com", 120))

	// A 429 pauses every caller of the environment.
	rec := &sleepRecorder{}
	a.pause(time.Hour)
	require.NoError(t, b.wait(t.Context(), rec.sleep))
	require.Len(t, rec.all(), 1)
	assert.Greater(t, rec.all()[0], 59*time.Minute)
}

func TestGroupLockSerialises(t *testing.T) {
	t.Parallel()
	unlock, err := lockGroup(t.Context(), "https://lock.example.com", "GROUP")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = lockGroup(ctx, "https://lock.example.com", "group")
	require.ErrorIs(t, err, context.DeadlineExceeded, "the same group (any case) waits")
	other, err := lockGroup(t.Context(), "https://lock.example.com", "OTHER")
	require.NoError(t, err)
	other()
	unlock()
	again, err := lockGroup(t.Context(), "https://lock.example.com", "group")
	require.NoError(t, err)
	again()
}

func TestJSONErrorFromAction(t *testing.T) {
	t.Parallel()
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"code": "", "message": "Entity 'Nope' does not exist in the target environment"}})
	}}
	c, _ := newFakeClient(t, f, nil)
	_, err := c.ImportFromPackage(t.Context(), ImportParams{PackageURL: "https://x/dmf/p?sig=1", DefinitionGroupID: "G"})
	var he *HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusBadRequest, he.StatusCode)
	assert.Contains(t, he.Message, "does not exist")
	assert.False(t, errors.Is(err, ErrResponseLost))
}

var _ io.Writer = (*countWriter)(nil)

func TestEnqueueRetriedOnlyWhenRefused(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		assert.Equal(t, "payload", string(body), "the body is sent whole on every attempt")
		assert.Equal(t, "General%20journal", strings.TrimPrefix(strings.Split(r.URL.RawQuery, "&")[1], "entity="))
		assert.Equal(t, "file.csv", r.Header.Get("X-Ms-Dyn-Externalidentifier"))
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `"{ABC-123}"`)
	}}
	c, _ := newFakeClient(t, f, nil)
	id, err := c.Enqueue(t.Context(), EnqueueRequest{ActivityID: "{A}", Entity: "General journal", Company: "USMF",
		ExternalID: "file.csv", Body: strings.NewReader("payload"), Size: 7})
	require.NoError(t, err)
	assert.Equal(t, "ABC-123", id)
	assert.Equal(t, int64(2), calls.Load(), "a 429 was refused before processing: sent again")
}

func TestDequeueEmptyAnswers(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/connector/dequeue/%7BA%7D", r.URL.EscapedPath())
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusOK) // 200 with an empty body
	}}
	c, _ := newFakeClient(t, f, nil)
	for range 2 {
		m, err := c.Dequeue(t.Context(), "{A}")
		require.NoError(t, err)
		assert.Nil(t, m)
	}
}

// WithBeforeSend runs its function before each attempt goes out, after the token: its
// error ends the call unsent and unretried.
func TestBeforeSendRunsBeforeEachAttempt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	f := &fakeFO{api: func(w http.ResponseWriter, r *http.Request) {
		note("F&O")
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, `{"value":"Executing"}`)
	}}
	// The 429 pauses the environment's rate limit: the retry waits there.
	c, _ := newFakeClient(t, f, func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			if len(order) > 0 && order[len(order)-1] != "wait" {
				note("wait")
			}
			return ctx.Err()
		}
	})
	ctx := WithBeforeSend(t.Context(), func(context.Context) error {
		note(fmt.Sprintf("hook (%d tokens)", f.tokenRequests.Load()))
		return nil
	})
	st, err := c.GetExecutionSummaryStatus(ctx, "E")
	require.NoError(t, err)
	assert.Equal(t, StatusExecuting, st)
	assert.Equal(t, []string{"hook (1 tokens)", "F&O", "wait", "hook (1 tokens)", "F&O"}, order,
		"before each attempt: after its waits and the token")

	refused := errors.New("not this caller's turn")
	_, err = c.GetExecutionSummaryStatus(WithBeforeSend(t.Context(), func(context.Context) error { return refused }), "E")
	require.ErrorIs(t, err, refused)
	assert.EqualValues(t, 2, calls.Load(), "nothing sent, nothing retried")
}
