package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/devstack"
)

// `make dev` end to end: its own Postgres, the emulator, the example projects' imports and
// the export of the customers imported.
func TestDevRunsTheSampleImport(t *testing.T) {
	if _, err := devstack.FindPostgresBin(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	out, code := runCLI(t, "dev", "--exit")
	require.Equal(t, 0, code, out)
	for _, want := range []string{
		"job 1: succeeded", "5 read, 5 staged, 0 invalid, 5 uploaded, 5 imported",
		"job 2: succeeded", "3 read, 3 staged, 0 invalid, 3 uploaded, 3 imported",
		"job 3: succeeded", "4 read, 4 staged, 0 invalid, 4 uploaded, 4 imported",
		"export job 4: succeeded", "5 rows in 1 files",
		"0 protocol violations",
	} {
		assert.Contains(t, out, want)
	}
	assert.Regexp(t, regexp.MustCompile(`Customers V3\s+5 rows in the emulator`), out)
	assert.Regexp(t, regexp.MustCompile(`Vendors V2\s+3 rows in the emulator`), out)
	assert.Regexp(t, regexp.MustCompile(`Released products V2\s+4 rows in the emulator`), out)
}

// `make dev` without --exit: the review sample ends partially succeeded (rows invalid by
// the project's rules, rows the emulator rejects), and the console serves it until the
// command is stopped, with the login it prints.
func TestDevServesTheConsole(t *testing.T) {
	if _, err := devstack.FindPostgresBin(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	root := newRootCmd()
	root.SetArgs([]string{"dev", "--addr", freeAddr(t)})
	root.SetOut(&out)
	root.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	console := regexp.MustCompile(`The console: (http://\S+)/jobs/(\d+)/errors  \(sign in as (\S+), password (\S+)\)`)
	var m []string
	require.Eventually(t, func() bool {
		m = console.FindStringSubmatch(out.String())
		return m != nil
	}, 2*time.Minute, 100*time.Millisecond, "dev prints the console's URL and login:\n%s", &out)
	assert.Regexp(t, `job \d+: partially succeeded .*2000 read, 2000 staged, \d+ invalid, .* [1-9]\d* rejected by F&O`, out.String())

	base, job := m[1], m[2]
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	cl := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := cl.PostForm(base+"/login", url.Values{"name": {m[3]}, "password": {m[4]}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "signed in and sent on to the jobs")
	resp, err = cl.Get(base + "/api/v1/jobs/" + job + "/errors")
	require.NoError(t, err)
	var review struct {
		Open   int64
		Groups []struct{ Field, Rule string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&review))
	resp.Body.Close()
	assert.Greater(t, review.Open, int64(40))
	var rules []string
	for _, g := range review.Groups {
		rules = append(rules, g.Field+" "+g.Rule)
	}
	assert.Contains(t, rules, "CUSTOMERGROUPID one_of", "invalid by the project's rules")
	assert.Contains(t, rules, " fo", "rejected by the emulator (F&O names no field: its messages are on the chunk)")

	// The job's notification is in Mailpit, linking to its review in the console.
	mail := regexp.MustCompile(`mail \(Mailpit\)\s+(http://\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, mail, "dev prints Mailpit's URL:\n%s", &out)
	assert.NotContains(t, out.String(), "notification not sent")
	resp, err = cl.Get(mail[1] + "/api/v1/messages")
	require.NoError(t, err)
	var inbox struct {
		Messages []struct{ ID, Subject string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&inbox))
	resp.Body.Close()
	require.Len(t, inbox.Messages, 1)
	assert.Contains(t, inbox.Messages[0].Subject, "customers-csv: partially succeeded")
	resp, err = cl.Get(mail[1] + "/api/v1/message/" + inbox.Messages[0].ID)
	require.NoError(t, err)
	var msg struct{ Text string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg))
	resp.Body.Close()
	assert.Contains(t, msg.Text, base+"/jobs/"+job+"/errors")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "%s", &out)
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop")
	}
	assert.Contains(t, out.String(), "stopping")
}
