package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/internal/devstack"
	"github.com/dmfpipe/dmfpipe/internal/testsvc"
	"github.com/dmfpipe/dmfpipe/notify"
)

const smtpSecret = "Sm7pPa55w0rd-never-printed"

// email returns an Email through the Mailpit at smtpAddr to one fresh recipient per call.
func email(t *testing.T, smtpAddr string) (*notify.Email, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(smtpAddr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	to := testsvc.Name(t) + "@example.com"
	return &notify.Email{
		SMTP: config.SMTP{
			Host: host, Port: p, TLS: "none", From: "dmfpipe@example.com",
			Username: "dmf", Password: config.NewSecret(smtpSecret),
		},
		To: []string{to, "ops-" + to},
	}, to
}

type mailpitAddress struct{ Name, Address string }

type mailpitMessage struct {
	ID       string
	Username string // the SMTP AUTH user
	Subject  string
	From     mailpitAddress
	To       []mailpitAddress
	Text     string
	HTML     string
}

// mailTo returns the one message Mailpit received for recipient.
func mailTo(t *testing.T, apiURL, recipient string) mailpitMessage {
	t.Helper()
	var found struct {
		Messages []mailpitMessage `json:"messages"`
	}
	getJSON(t, apiURL+"/api/v1/search?query="+url.QueryEscape("to:"+recipient), &found)
	require.Len(t, found.Messages, 1, "messages to %s", recipient)
	var full mailpitMessage
	getJSON(t, apiURL+"/api/v1/message/"+found.Messages[0].ID, &full)
	full.Username = found.Messages[0].Username
	return full
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", u)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func TestEmailArrives(t *testing.T) {
	t.Parallel()
	smtpAddr, apiURL := testsvc.Mailpit(t)
	e, to := email(t, smtpAddr)
	require.NoError(t, e.Send(context.Background(), partialJob()))

	m := mailTo(t, apiURL, to)
	assert.Equal(t, "[dmfpipe] customers-nightly: partially succeeded (7 rows invalid, 5 rejected by F&O)", m.Subject)
	assert.Equal(t, "dmfpipe@example.com", m.From.Address)
	assert.Equal(t, "dmf", m.Username, "logged in with the configured user")
	require.Len(t, m.To, 2)
	assert.Equal(t, to, m.To[0].Address)
	assert.Equal(t, "ops-"+to, m.To[1].Address)

	for _, want := range []string{
		"Project:         customers-nightly",
		"Job:             42",
		"Status:          partially succeeded",
		"Trigger:         schedule",
		"File:            /outbound/customers/customers_20261125.csv",
		"Duration:        3m12s",
		"Rows read:       200,000",
		"Invalid:         7",
		"Uploaded:        199,993",
		"Imported:        199,988",
		"Rejected by F&O: 5",
		"Chunks:          20",
		`- line 12, column "Account No", field CUSTOMERACCOUNT: is required (required)`,
		"- line 977, field CUSTOMERACCOUNT: Customer group <Retail & Co> does not exist (fo)",
		"... and 9 more rows waiting in staging.",
		"Open the job in the console: https://dmf.example.com/jobs/42/errors",
	} {
		assert.Contains(t, m.Text, want)
	}
	assert.NotContains(t, m.Text, "\n\n\n", "one blank line between parts")
	for _, want := range []string{
		"<th", ">Rows read</th><td", ">200,000</td>",
		">CUSTOMERGROUPID</td>", ">one_of</td>",
		"Customer group &lt;Retail &amp; Co&gt; does not exist", // escaped, not markup
		`<a href="https://dmf.example.com/jobs/42/errors">`,
	} {
		assert.Contains(t, m.HTML, want)
	}
	assert.NotContains(t, m.HTML, "<Retail")
}

func TestEmailFailedJobWithoutConsole(t *testing.T) {
	t.Parallel()
	smtpAddr, apiURL := testsvc.Mailpit(t)
	e, to := email(t, smtpAddr)
	job := partialJob()
	job.Status, job.Errors, job.ConsoleURL = notify.StatusFailed, nil, ""
	job.Error = "error rate 12.5% is over the project's limit of 5%"
	require.NoError(t, e.Send(context.Background(), job))

	m := mailTo(t, apiURL, to)
	assert.Equal(t, "[dmfpipe] customers-nightly: failed", m.Subject)
	assert.Contains(t, m.Text, "Error: error rate 12.5% is over the project's limit of 5%")
	assert.Contains(t, m.HTML, "error rate 12.5% is over the project&#39;s limit of 5%")
	assert.NotContains(t, m.Text, "console")
	assert.NotContains(t, m.HTML, "<a ")
	assert.NotContains(t, m.Text, "First row errors")
}

// Mailpit here speaks plain SMTP only: with starttls or tls configured, nothing may go out
// in clear text.
func TestEmailRequiresTheConfiguredTLS(t *testing.T) {
	t.Parallel()
	smtpAddr, apiURL := testsvc.Mailpit(t)
	for _, mode := range []string{"starttls", "tls"} {
		e, to := email(t, smtpAddr)
		e.SMTP.TLS = mode
		err := e.Send(context.Background(), partialJob())
		require.Error(t, err, mode)
		assert.NotContains(t, err.Error(), smtpSecret)
		var found struct {
			MessagesCount int `json:"messages_count"`
		}
		getJSON(t, apiURL+"/api/v1/search?query="+url.QueryEscape("to:"+to), &found)
		assert.Zero(t, found.MessagesCount, "%s: sent in clear text", mode)
	}
}

func TestEmailConfigErrorsArePermanent(t *testing.T) {
	t.Parallel()
	cases := map[string]notify.Email{
		"no host":       {SMTP: config.SMTP{From: "a@example.com"}, To: []string{"b@example.com"}},
		"no from":       {SMTP: config.SMTP{Host: "127.0.0.1"}, To: []string{"b@example.com"}},
		"no recipients": {SMTP: config.SMTP{Host: "127.0.0.1", From: "a@example.com"}},
		"bad recipient": {SMTP: config.SMTP{Host: "127.0.0.1", From: "a@example.com"}, To: []string{"not an address"}},
		"bad tls":       {SMTP: config.SMTP{Host: "127.0.0.1", From: "a@example.com", TLS: "ssl"}, To: []string{"b@example.com"}},
	}
	for name, e := range cases {
		err := e.Send(context.Background(), partialJob())
		require.Error(t, err, name)
		assert.True(t, notify.IsPermanent(err), "%s: %v", name, err)
	}
}

func TestEmailConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	e, _ := email(t, addr)
	err = e.Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err))
	assert.NotContains(t, err.Error(), smtpSecret)
}

// A server that accepts the connection and never greets: the send must give up.
func TestEmailSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	e, _ := email(t, l.Addr().String())
	e.SendTimeout = 200 * time.Millisecond
	err = e.Send(context.Background(), partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err))

	// The caller's context ends the conversation too.
	e.SendTimeout = 0
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = e.Send(ctx, partialJob())
	require.Error(t, err)
	assert.False(t, notify.IsPermanent(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// privateMailpit starts a Mailpit of the test's own: chaos is global to a Mailpit, and the
// shared one serves other packages' tests at the same time.
func privateMailpit(t *testing.T) (smtpAddr, apiURL string) {
	t.Helper()
	testsvc.Mailpit(t) // skip (or fail under CI) like every Mailpit test when there is none
	wd, err := os.Getwd()
	require.NoError(t, err)
	repo, err := devstack.FindRepo(wd)
	require.NoError(t, err)
	mp := repo.NewMailpit()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, mp.Start(ctx, t.TempDir()))
	t.Cleanup(func() { _ = mp.Stop() })
	return mp.SMTPAddr(), mp.APIURL()
}

type chaosTrigger struct{ ErrorCode, Probability int }

func setChaos(t *testing.T, apiURL string, triggers map[string]chaosTrigger) {
	t.Helper()
	body, err := json.Marshal(triggers)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPut, apiURL+"/api/v1/chaos", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "PUT /api/v1/chaos")
}

func TestEmailRefusalsClassified(t *testing.T) {
	t.Parallel()
	smtpAddr, apiURL := privateMailpit(t)
	cases := []struct {
		trigger   string
		code      int
		permanent bool
	}{
		{"Recipient", 550, true},
		{"Recipient", 451, false},
		{"Sender", 554, true},
		{"Sender", 421, false},
		{"Authentication", 535, true},
		{"Authentication", 454, false},
	}
	// Serial: the chaos settings belong to the whole (private) Mailpit.
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %d", c.trigger, c.code), func(t *testing.T) {
			setChaos(t, apiURL, map[string]chaosTrigger{c.trigger: {ErrorCode: c.code, Probability: 100}})
			e, to := email(t, smtpAddr)
			err := e.Send(context.Background(), partialJob())
			require.Error(t, err)
			assert.Equal(t, c.permanent, notify.IsPermanent(err), "%v", err)
			var ne *notify.Error
			require.ErrorAs(t, err, &ne)
			assert.Equal(t, notify.ChannelEmail, ne.Channel)
			assert.Equal(t, c.code, ne.Code, "%v", err)
			assert.NotContains(t, err.Error(), smtpSecret)

			var found struct {
				MessagesCount int `json:"messages_count"`
			}
			getJSON(t, apiURL+"/api/v1/search?query="+url.QueryEscape("to:"+to), &found)
			assert.Zero(t, found.MessagesCount, "refused mail was stored")
		})
	}

	setChaos(t, apiURL, map[string]chaosTrigger{})
	e, to := email(t, smtpAddr)
	require.NoError(t, e.Send(context.Background(), partialJob()), "after chaos is reset")
	mailTo(t, apiURL, to)
}
