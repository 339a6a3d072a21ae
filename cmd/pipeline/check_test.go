package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/internal/testsvc"
)

func TestCheckExampleConfig(t *testing.T) {
	out, code := runCLI(t, "check", "-c", "../../examples/pipeline.yaml")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "ok (1 environment, 2 connections, 5 projects)")
}

func TestCheckPrintsEveryProblemLocated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`environments:
  prod:
    url: http://contoso.operations.dynamics.com
    tenant: t
    client_id: c
    client_secret: ${env:DMFPIPE_TEST_UNSET_SECRET}
connections:
  drop: { type: local, root: /data, colour: blue }
projects:
  - name: customers
    kind: import
    environment: staging
    schedule: "0 25 * * *"
    source: { connection: drop, path: in }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT: { from: "Account No" }
      ORGANIZATIONNAME: { from: Name }
      CUSTOMERGROUPID: { const: "10" }
      SALESCURRENCYCODE: { const: EUR }
`), 0o600))
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Equal(t, []string{
		file + `:3: environment prod: url "http://contoso.operations.dynamics.com" uses http:// on a host that is not loopback; F&O needs https://`,
		file + `:6: warning: environments.prod.client_secret: environment variable DMFPIPE_TEST_UNSET_SECRET is not set`,
		file + `:8: connections.drop.colour: unknown key`,
		file + `:12: project customers: environment "staging" is not defined (defined: prod)`,
		file + `:13: project customers: invalid cron expression "0 25 * * *": end of range (25) above maximum (23): 25`,
	}, lines)
}

func TestCheckMissingFileIsUsageError(t *testing.T) {
	out, code := runCLI(t, "check", "-c", filepath.Join(t.TempDir(), "nope.yaml"))
	assert.Equal(t, exitUsage, code, out)
}

// secretsConfig is a clean config whose secrets come from the environment and from files;
// the webhook of its second project is DMFPIPE_TEST_WEBHOOK.
const secretsConfig = `environments:
  prod:
    url: https://contoso.operations.dynamics.com
    tenant: t
    client_id: c
    client_secret: ${env:DMFPIPE_TEST_UNSET_SECRET}
connections:
  drop:
    type: sftp
    host: sftp.example.com
    user: dmf
    private_key: ${file:keys/dmf.pem}
    known_hosts: known_hosts
projects:
  - name: customers
    kind: import
    environment: prod
    source: { connection: drop, path: in }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT: { from: "Account No" }
      ORGANIZATIONNAME: { from: Name }
      CUSTOMERGROUPID: { const: "10" }
      SALESCURRENCYCODE: { const: EUR }
    notify: { webhook: "${env:DMFPIPE_TEST_WEBHOOK}" }
`

// webhookToken is the credential part of a Teams webhook URL.
const webhookToken = "/webhookb2/0f8fad5b-d9cb-469f/IncomingWebhook/c0ffee?sig=S3cr3tS1g"

func TestCheckUnsetSecretsAreWarnings(t *testing.T) {
	t.Setenv("DMFPIPE_TEST_WEBHOOK", "https://contoso.webhook.office.com"+webhookToken)
	file := testsvc.WriteConfig(t, secretsConfig)
	key := filepath.Join(filepath.Dir(file), "keys", "dmf.pem")
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, 0, code, out)
	assert.Equal(t, []string{
		file + `:6: warning: environments.prod.client_secret: environment variable DMFPIPE_TEST_UNSET_SECRET is not set`,
		file + `:12: warning: connections.drop.private_key: secret file ` + key + ` does not exist`,
		file + `: ok (1 environment, 1 connection, 1 project) with 2 warnings`,
	}, strings.Split(strings.TrimSpace(out), "\n"))

	out, code = runCLI(t, "check", "--require-secrets", "-c", file)
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, []string{
		file + `:6: environments.prod.client_secret: environment variable DMFPIPE_TEST_UNSET_SECRET is not set`,
		file + `:12: connections.drop.private_key: secret file ` + key + ` does not exist`,
	}, strings.Split(strings.TrimSpace(out), "\n"))

	// Commands that use the secrets still refuse to start without them, naming them.
	out, code = runCLI(t, "preview", "-c", file, "customers", "--file", file)
	assert.Equal(t, exitUsage, code, out)
	assert.Contains(t, out, file+`:6: environments.prod.client_secret: environment variable DMFPIPE_TEST_UNSET_SECRET is not set`)
	assert.Contains(t, out, file+`:12: connections.drop.private_key: secret file `+key+` does not exist`)
}

func TestCheckNeverPrintsTheWebhookURL(t *testing.T) {
	// Set every secret, so that the webhook is the only one check could show.
	t.Setenv("DMFPIPE_TEST_UNSET_SECRET", "fo-secret")
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "keys"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "keys", "dmf.pem"), []byte("pem"), 0o600))
	file := filepath.Join(dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(file, []byte(secretsConfig), 0o600))

	for _, tc := range []struct {
		url, want string
		code      int
	}{
		{"https://contoso.webhook.office.com" + webhookToken, "ok (1 environment, 1 connection, 1 project)\n", 0},
		{"ftp://contoso.webhook.office.com" + webhookToken, "project customers: webhook is not an absolute http(s) URL", exitUsage},
		{"contoso.webhook.office.com" + webhookToken + "%zz", "project customers: webhook is not an absolute http(s) URL", exitUsage},
	} {
		t.Setenv("DMFPIPE_TEST_WEBHOOK", tc.url)
		out, code := runCLI(t, "check", "-c", file)
		assert.Equal(t, tc.code, code, out)
		assert.Contains(t, out, tc.want)
		for _, secret := range []string{webhookToken, "0f8fad5b", "c0ffee", "S3cr3tS1g", "webhookb2"} {
			assert.NotContains(t, out, secret)
		}
	}
}

// A syntax error comes alone: no "defines no environments" after it.
func TestCheckYAMLSyntaxErrorAlone(t *testing.T) {
	file := testsvc.WriteConfig(t, "environments:\n  prod:\n    url: https://x\n    tenant: t: u\n")
	out, code := runCLI(t, "check", "-c", file)
	assert.Equal(t, exitUsage, code, out)
	assert.Equal(t, []string{file + ":4: invalid YAML: mapping values are not allowed in this context"}, strings.Split(strings.TrimSpace(out), "\n"))
}
