package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/notify"
)

// secretPath and secretQuery stand for the credential part of an incoming-webhook URL.
const (
	secretPath  = "/workflows/0f8fad5b-d9cb-469f-a165-70867728950e/triggers/manual/paths/invoke"
	secretQuery = "api-version=1&sig=S3cr3tS1gnature"
)

type received struct {
	method, path, query, contentType string
	body                             map[string]any
}

// receiver is an HTTP server answering every request with status (and header), recording
// what it got.
func receiver(t *testing.T, status int, header http.Header, body string) (url string, got <-chan received) {
	t.Helper()
	ch := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		var m map[string]any
		assert.NoError(t, json.Unmarshal(raw, &m))
		select {
		case ch <- received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), m}:
		default: // nobody reads: the test looks at the response only
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + secretPath + "?" + secretQuery, ch
}

func TestWebhookDelivers(t *testing.T) {
	t.Parallel()
	url, got := receiver(t, http.StatusAccepted, nil, "")
	w := &notify.Webhook{URL: config.NewSecretURL(url)}
	require.NoError(t, w.Send(context.Background(), partialJob()))

	r := <-got
	assert.Equal(t, http.MethodPost, r.method)
	assert.Equal(t, secretPath, r.path)
	assert.Equal(t, secretQuery, r.query)
	assert.Equal(t, "application/json", r.contentType)
	assert.Equal(t, "message", r.body["type"])
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)", r.body["summary"])
	data, ok := r.body["dmfpipe"].(map[string]any)
	require.True(t, ok)
	assert.Equal(t, "customers-nightly", data["project"])
	assert.EqualValues(t, 42, data["job_id"])
}

func TestWebhookStatusClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusNotFound, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.status), func(t *testing.T) {
			t.Parallel()
			// The server echoes the secret parts of the URL, as some error pages do.
			url, _ := receiver(t, c.status, nil, "no flow at "+secretPath+"?"+secretQuery+"\n\ttry again")
			err := (&notify.Webhook{URL: config.NewSecretURL(url)}).Send(context.Background(), partialJob())
			require.Error(t, err)
			assert.Equal(t, c.permanent, notify.IsPermanent(err))
			var ne *notify.Error
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, notify.ChannelWebhook, ne.Channel)
			assert.Equal(t, c.status, ne.Code)
			assert.Contains(t, err.Error(), http.StatusText(c.status), "the error says the status")
			assert.Contains(t, err.Error(), "no flow at [redacted]?[redacted] try again", "the body, redacted, on one line")
			assertNoSecret(t, err)
		})
	}
}

func TestWebhookRetryAfter(t *testing.T) {
	t.Parallel()
	url, _ := receiver(t, http.StatusTooManyRequests, http.Header{"Retry-After": {"17"}}, "")
	err := (&notify.Webhook{URL: config.NewSecretURL(url)}).Send(context.Background(), partialJob())
	var ne *notify.Error
	require.ErrorAs(t, err, &ne)
	assert.False(t, ne.Permanent)
	assert.Equal(t, 17*time.Second, ne.RetryAfter)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestWebhookConnectionRefused(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	err := (&notify.Webhook{URL: config.NewSecretURL("http://" + addr + secretPath + "?" + secretQuery)}).Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err))
	assert.Contains(t, err.Error(), "http://"+addr)
	assertNoSecret(t, err)
}

func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	w := &notify.Webhook{URL: config.NewSecretURL(srv.URL + secretPath + "?" + secretQuery), Timeout: 100 * time.Millisecond}
	err := w.Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assertNoSecret(t, err)
}

func TestWebhookBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "not a url", "ftp://example.com/x", "https://exa mple.com/" + secretQuery, "/relative"} {
		err := (&notify.Webhook{URL: config.NewSecretURL(u)}).Send(context.Background(), partialJob())
		require.Error(t, err, u)
		assert.True(t, notify.IsPermanent(err), u)
		assertNoSecret(t, err)
	}
}

func TestMulti(t *testing.T) {
	t.Parallel()
	okURL, okGot := receiver(t, http.StatusOK, nil, "")
	badURL, _ := receiver(t, http.StatusNotFound, nil, "")
	busyURL, _ := receiver(t, http.StatusServiceUnavailable, nil, "")

	require.NoError(t, notify.Multi{&notify.Webhook{URL: config.NewSecretURL(okURL)}}.Send(context.Background(), partialJob()))
	<-okGot

	err := notify.Multi{&notify.Webhook{URL: config.NewSecretURL(okURL)}, &notify.Webhook{URL: config.NewSecretURL(badURL)}}.Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.True(t, notify.IsPermanent(err), "the only failure is permanent")
	<-okGot

	err = notify.Multi{&notify.Webhook{URL: config.NewSecretURL(badURL)}, &notify.Webhook{URL: config.NewSecretURL(busyURL)}}.Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err), "one channel is worth a retry")
	var ne *notify.Error
	assert.True(t, errors.As(err, &ne))
}

// webhookConfig is a minimal clean config whose one project posts to ${env:TEAMS_WEBHOOK}.
const webhookConfig = `
environments:
  prod: { url: https://contoso.operations.dynamics.com, tenant: t, client_id: c, client_secret: s }
connections:
  drop: { type: local, root: /data }
projects:
  - name: customers
    kind: import
    environment: prod
    source: { connection: drop, path: in }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping: { CUSTOMERACCOUNT: Account }
    notify: { webhook: "${env:TEAMS_WEBHOOK}" }
`

// A webhook URL read from the environment by config reaches the sender whole, and neither
// a failed delivery nor printing or logging the sender shows its token.
func TestWebhookURLFromConfigStaysSecret(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(webhookConfig), 0o600))
	load := func(url string) config.SecretURL {
		t.Helper()
		env := func(name string) (string, bool) { return url, name == "TEAMS_WEBHOOK" }
		cfg, err := config.Loader{LookupEnv: env}.Load(file)
		require.NoError(t, err)
		return cfg.Projects[0].Notify.Webhook
	}

	closed := "http://" + closedAddr(t)
	busy, _ := receiver(t, http.StatusInternalServerError, nil, "flow "+secretPath+" failed")
	for name, url := range map[string]string{"closed port": closed + secretPath + "?" + secretQuery, "500": busy} {
		t.Run(name, func(t *testing.T) {
			w := &notify.Webhook{URL: load(url)}
			require.Equal(t, url, w.URL.Value())
			err := w.Send(context.Background(), partialJob())
			require.Error(t, err)
			assert.False(t, notify.IsPermanent(err))
			assertNoSecret(t, err)

			var log bytes.Buffer
			slog.New(slog.NewJSONHandler(&log, nil)).Info("sending", "url", w.URL, "webhook", w)
			slog.New(slog.NewTextHandler(&log, nil)).Info("sending", "url", w.URL, "webhook", w)
			for _, shown := range []string{
				fmt.Sprint(w), fmt.Sprintf("%+v %#v %s %q", w, w, w.URL, w.URL),
				string(must(json.Marshal(w))), log.String(),
			} {
				assertNoSecretIn(t, shown)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	assertNoSecretIn(t, err.Error())
}

func assertNoSecretIn(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{secretPath, secretQuery, "S3cr3tS1gnature", "0f8fad5b"} {
		assert.NotContains(t, text, s)
	}
}
