package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

// writeConfig writes files (name -> content) into a temp dir and returns the dir.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var ps config.Problems
	require.True(t, errors.As(err, &ps), "want config.Problems, got %v", err)
	return problemStrings(ps)
}

func noEnv(string) (string, bool) { return "", false }

const validConfig = `
database:
  url: postgres://localhost/dmfpipe
environments:
  prod:
    url: https://contoso.operations.dynamics.com/
    tenant: contoso.onmicrosoft.com
    client_id: app
    client_secret: s3cret
connections:
  drop: { type: local, root: ./data }
projects:
  - name: customers
    kind: import
    environment: prod
    schedule: "0 2 * * *"
    timezone: Europe/Amsterdam
    source: { connection: drop, path: in, pattern: "customers_*.csv" }
    format: { type: csv, delimiter: ";" }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST }
    mapping:
      CUSTOMERACCOUNT: { from: "Account No", transforms: [trim, { pad_left: { width: 10, char: "0" } }] }
      ORGANIZATIONNAME: Name
      SALESCURRENCYCODE: { const: EUR }
`

func TestLoadValidAppliesDefaults(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{"pipeline.yaml": validConfig})
	cfg, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "pipeline.yaml"))
	require.NoError(t, err)

	env := cfg.Environments["prod"]
	require.NotNil(t, env)
	assert.Equal(t, "prod", env.Name)
	assert.Equal(t, "https://contoso.operations.dynamics.com", env.URL, "trailing slash removed")
	assert.Equal(t, "v2", env.TokenVersion)
	assert.Equal(t, 600, env.MaxRequestsPerMinute)
	assert.Equal(t, 5*time.Second, env.Poll.Initial.D())
	assert.Equal(t, 2*time.Hour, env.Poll.Deadline.D())
	assert.Equal(t, filepath.Join(dir, "data"), cfg.Connections["drop"].Root, "relative to the config file")

	p := cfg.Projects[0]
	assert.Equal(t, 10000, p.Target.ChunkRows)
	assert.Equal(t, 1, p.Target.Lanes)
	assert.Equal(t, time.Minute, p.Source.MinAge.D())
	assert.Equal(t, 1.0, *p.OnErrors.MaxErrorRate)
	require.Len(t, p.Mapping, 3)
	assert.Equal(t, []string{"CUSTOMERACCOUNT", "ORGANIZATIONNAME", "SALESCURRENCYCODE"},
		[]string{p.Mapping[0].Field, p.Mapping[1].Field, p.Mapping[2].Field}, "file order kept")
	assert.Equal(t, "Name", p.Mapping[1].From, "shorthand FIELD: column")
	require.Len(t, p.Mapping[0].Transforms, 2)
	assert.Equal(t, "pad_left", p.Mapping[0].Transforms[1].Name)
	assert.Equal(t, 22, p.Mapping[0].Transforms[1].Pos.Line)
	assert.Equal(t, 22, cfg.Pos("projects[0].mapping.CUSTOMERACCOUNT").Line)
}

// The acceptance case: five different mistakes, five located errors.
func TestLoadReportsEveryProblemWithItsLine(t *testing.T) {
	t.Parallel()
	content := `
environments:
  prod:
    url: http://contoso.operations.dynamics.com
    tenant: t
    client_id: c
    client_secret: ${env:FO_SECRET}
connections:
  drop: { type: local, root: /data, colour: blue }
projects:
  - name: customers
    kind: import
    environment: staging
    schedule: "61 * * * *"
    source: { connection: drop, path: in }
    target: { entity: Customers V3, legal_entity: USMF, definition_group: CUST, chunk_rows: many }
    mapping:
      CUSTOMERACCOUNT: { from: "Account No" }
`
	dir := writeConfig(t, map[string]string{"bad.yaml": content})
	file := filepath.Join(dir, "bad.yaml")
	_, err := config.Loader{LookupEnv: noEnv}.Load(file)
	got := problemsOf(t, err)
	want := []string{
		file + `:4: environment prod: url "http://contoso.operations.dynamics.com" uses http:// on a host that is not loopback; F&O needs https://`,
		file + `:7: environments.prod.client_secret: environment variable FO_SECRET is not set`,
		file + `:9: connections.drop.colour: unknown key`,
		file + `:13: project customers: environment "staging" is not defined (defined: prod)`,
		file + `:14: project customers: invalid cron expression "61 * * * *": end of range (61) above maximum (59): 61`,
		file + `:16: projects[0].target.chunk_rows: expected an integer, got "many"`,
	}
	assert.ElementsMatch(t, want, got)
}

func TestLoadUnknownKeySuggestsTheNearOne(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{"c.yaml": strings.Replace(validConfig, `schedule: "0 2 * * *"`, `shedule: "0 2 * * *"`, 1)})
	_, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "c.yaml"))
	assert.Contains(t, problemsOf(t, err), filepath.Join(dir, "c.yaml")+`:16: projects[0].shedule: unknown key (did you mean "schedule"?)`)
}

func TestSecretsExpandFromEnvAndFiles(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{
		"secret.txt": "from-a-file\n",
		"c.yaml": strings.NewReplacer(
			"client_secret: s3cret", "client_secret: ${file:secret.txt}",
			"url: postgres://localhost/dmfpipe", "url: postgres://app:${env:DB_PASSWORD}@localhost/${env:DB_NAME:-dmfpipe}",
		).Replace(validConfig),
	})
	env := map[string]string{"DB_PASSWORD": "p@ss"}
	cfg, err := config.Loader{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Load(filepath.Join(dir, "c.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "from-a-file", cfg.Environments["prod"].ClientSecret.Value(), "trailing newline trimmed")
	assert.Equal(t, "postgres://app:p@ss@localhost/dmfpipe", cfg.Database.URL.Value(), "fallback for unset DB_NAME")
}

func TestMissingSecretsAreNamedNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{
		"c.yaml": strings.NewReplacer(
			"client_secret: s3cret", "client_secret: ${file:/nonexistent/fo-secret}",
			"url: postgres://localhost/dmfpipe", "url: postgres://app:${env:DB_PASSWORD}@localhost/x",
		).Replace(validConfig),
	})
	_, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "c.yaml"))
	msg := err.Error()
	assert.Contains(t, msg, ":3: database.url: environment variable DB_PASSWORD is not set")
	assert.Contains(t, msg, ":9: environments.prod.client_secret: secret file /nonexistent/fo-secret does not exist")
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := config.NewSecret("hunter2")
	for _, out := range []string{s.String(), s.GoString(), string(must(s.MarshalJSON()))} {
		assert.NotContains(t, out, "hunter2")
	}
	assert.Equal(t, "hunter2", s.Value())
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLoadFolderMergesFilesAndCatchesDuplicates(t *testing.T) {
	t.Parallel()
	envs := validConfig[:strings.Index(validConfig, "projects:")]
	projects := validConfig[strings.Index(validConfig, "projects:"):]
	dir := writeConfig(t, map[string]string{
		"00-base.yaml":     envs,
		"10-projects.yaml": projects,
		"20-more.yaml":     strings.Replace(projects, "name: customers", "name: customers-2", 1),
		"notes.txt":        "ignored",
	})
	cfg, err := config.Loader{LookupEnv: noEnv}.Load(dir)
	require.NoError(t, err)
	require.Len(t, cfg.Projects, 2)
	assert.Equal(t, "customers-2", cfg.Projects[1].Name)
	assert.Equal(t, filepath.Join(dir, "20-more.yaml"), cfg.Projects[1].Pos.File)

	dir = writeConfig(t, map[string]string{
		"a.yaml": envs,
		"b.yaml": "environments:\n  prod:\n    url: https://other.example\n    tenant: t\n    client_id: c\n    client_secret: s\n" + projects,
	})
	_, err = config.Loader{LookupEnv: noEnv}.Load(dir)
	assert.Equal(t, []string{filepath.Join(dir, "b.yaml") + ":2: environments.prod: already defined at " + filepath.Join(dir, "a.yaml") + ":5"}, problemsOf(t, err))
}

func TestProjectRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, from, to, want string
	}{
		{"bad time zone", "timezone: Europe/Amsterdam", "timezone: Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"missing connection", "connection: drop", "connection: nowhere", `connection "nowhere" is not defined (defined: drop)`},
		{"bad kind", "kind: import", "kind: sync", `kind must be import or export, not "sync"`},
		{"lanes out of range", "definition_group: CUST }", "definition_group: CUST, lanes: 40 }", "lanes must be between 1 and 16"},
		{"two sources", `{ const: EUR }`, `{ const: EUR, from: Currency }`, "use one of from, const and expr"},
		{"export field on import", "kind: import", "kind: import\n    legal_entity: USMF", "legal_entity belongs to export projects"},
		{"bad project name", "name: customers", "name: 'customers nightly'", "names use letters, digits"},
		{"tz in schedule", `schedule: "0 2 * * *"`, `schedule: "CRON_TZ=UTC 0 2 * * *"`, "write the time zone in timezone:"},
		{"bad delimiter", `delimiter: ";"`, `delimiter: ";;"`, `delimiter must be one character`},
		{"company capture", "legal_entity: USMF, ", "", "target.legal_entity is required"},
		{"notify without smtp", "  - name: customers", "  - name: customers\n    notify: { email: [ops@example.com] }", "notify.email needs an smtp section"},
		{"wrong type list", `pattern: "customers_*.csv"`, `pattern: [a, b]`, `expected a string, got a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, validConfig, tc.from)
			dir := writeConfig(t, map[string]string{"c.yaml": strings.Replace(validConfig, tc.from, tc.to, 1)})
			_, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "c.yaml"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestExampleConfigIsClean(t *testing.T) {
	t.Parallel()
	cfg, err := config.Loader{LookupEnv: noEnv}.Load("../examples/pipeline.yaml")
	require.NoError(t, err)
	kinds := map[string]int{}
	formats := map[string]bool{}
	for _, p := range cfg.Projects {
		kinds[p.Kind]++
		formats[p.Format.Type] = true
	}
	assert.Equal(t, 2, kinds["export"], "an XLSX export and the customers export `make dev` runs")
	assert.True(t, formats["csv"] && formats["xlsx"] && formats["json"], "an import per format")
}

// Printed with any verb, a Secret shows neither its value nor its value's hex or bytes.
func TestSecretNeverPrintsWithAnyVerb(t *testing.T) {
	t.Parallel()
	s := config.NewSecret("hunter2")
	hex := fmt.Sprintf("%x", "hunter2")
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s"} {
		out := fmt.Sprintf(format, s) + fmt.Sprintf(format, struct{ S config.Secret }{s})
		assert.NotContains(t, out, "hunter2", format)
		assert.NotContains(t, strings.ToLower(out), hex, format)
	}
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "secret", s)
	assert.NotContains(t, log.String(), "hunter2")
}

func TestSecretURLShowsSchemeAndHostOnly(t *testing.T) {
	t.Parallel()
	const raw = "https://user:pw@contoso.webhook.office.com:8443/webhookb2/0f8fad5b/IncomingWebhook/abc?sig=S3cr3t#frag"
	u := config.NewSecretURL(raw)
	assert.Equal(t, raw, u.Value())
	assert.Equal(t, "https://contoso.webhook.office.com:8443", u.String())
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %q %x %d", u, u, u, u, u, u, u),
		fmt.Sprintf("%+v", config.Notify{Webhook: u}),
		string(must(json.Marshal(config.Notify{Webhook: u}))),
		fmt.Sprint(must(u.MarshalYAML())),
	} {
		for _, secret := range []string{"0f8fad5b", "S3cr3t", "pw", "webhookb2", fmt.Sprintf("%x", "0f8fad5b")} {
			assert.NotContains(t, out, secret)
		}
	}
	assert.Equal(t, "[redacted]", config.NewSecretURL("hooks.slack.com/services/T0/B0/xyz").String(), "no scheme: nothing shown")
	assert.Equal(t, "", config.SecretURL{}.String())
}

// With OptionalSecrets, references this shell cannot resolve are warnings, the rest of the
// config is still checked, and the secrets that depend on them are not reported missing.
func TestOptionalSecretsAreWarnings(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{
		"c.yaml": strings.NewReplacer(
			"client_secret: s3cret", "client_secret: ${env:FO_SECRET}",
			"url: https://contoso.operations.dynamics.com/", "url: ${env:FO_URL}",
			"drop: { type: local, root: ./data }", "drop: { type: local, root: ./data }\n  blob: { type: azblob, connection_string: \"${file:az.txt}\", container: in }",
		).Replace(validConfig),
	})
	file := filepath.Join(dir, "c.yaml")
	cfg, err := config.Loader{LookupEnv: noEnv, OptionalSecrets: true}.Load(file)
	require.NoError(t, err)
	want := []string{
		file + ":6: warning: environments.prod.url: environment variable FO_URL is not set",
		file + ":9: warning: environments.prod.client_secret: environment variable FO_SECRET is not set",
		file + ":12: warning: connections.blob.connection_string: secret file " + filepath.Join(dir, "az.txt") + " does not exist",
	}
	assert.Equal(t, want, problemStrings(cfg.Warnings))
	for _, w := range cfg.Warnings {
		assert.Equal(t, config.SeverityWarning, w.Severity)
	}

	// The rest is still validated: a real mistake fails Load and comes with the warnings.
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(string(must(os.ReadFile(file))), "kind: import", "kind: sync", 1)), 0o600))
	_, err = config.Loader{LookupEnv: noEnv, OptionalSecrets: true}.Load(file)
	got := problemsOf(t, err)
	assert.Equal(t, append(want, file+`:15: project customers: kind must be import or export, not "sync"`), got)

	// Without the option, the same references are errors, named, as before.
	_, err = config.Loader{LookupEnv: noEnv}.Load(file)
	var ps config.Problems
	require.ErrorAs(t, err, &ps)
	assert.Empty(t, ps.Warnings())
	assert.Contains(t, err.Error(), file+":9: environments.prod.client_secret: environment variable FO_SECRET is not set")
}

// A reference that fails for another reason than "not set" stays an error.
func TestOptionalSecretsKeepsOtherReferenceErrors(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{"c.yaml": strings.Replace(validConfig, "client_secret: s3cret", "client_secret: ${vault:fo}", 1)})
	_, err := config.Loader{LookupEnv: noEnv, OptionalSecrets: true}.Load(filepath.Join(dir, "c.yaml"))
	var ps config.Problems
	require.ErrorAs(t, err, &ps)
	require.Len(t, ps, 1)
	assert.Equal(t, config.SeverityError, ps[0].Severity)
	assert.Contains(t, ps[0].Msg, "unknown reference ${vault:fo}")
}

func TestWebhookProblemHidesTheURL(t *testing.T) {
	t.Parallel()
	dir := writeConfig(t, map[string]string{"c.yaml": strings.Replace(validConfig, "  - name: customers",
		"  - name: customers\n    notify: { webhook: \"ftp://hooks.example/services/T0SECRET\" }", 1)})
	_, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "c.yaml"))
	assert.Equal(t, []string{filepath.Join(dir, "c.yaml") + ":14: project customers: webhook is not an absolute http(s) URL"}, problemsOf(t, err))
}

// A syntax error is the only thing reported: checking a config that could not be read
// would add findings ("defines no environments") that are not true of the file.
func TestYAMLSyntaxErrorAlone(t *testing.T) {
	t.Parallel()
	bad := "environments:\n  prod:\n    url: [unclosed\n"
	dir := writeConfig(t, map[string]string{"bad.yaml": bad})
	cfg, err := config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "bad.yaml"))
	assert.Nil(t, cfg)
	got := problemsOf(t, err)
	require.Len(t, got, 1, got)
	assert.Regexp(t, `^`+regexp.QuoteMeta(filepath.Join(dir, "bad.yaml"))+`:\d+: invalid YAML: `, got[0])

	// In a folder, the other files' problems wait until every file parses.
	dir = writeConfig(t, map[string]string{"a.yaml": "projects:\n  - name: x\n", "b.yaml": bad})
	_, err = config.Loader{LookupEnv: noEnv}.Load(dir)
	got = problemsOf(t, err)
	require.Len(t, got, 1, got)
	assert.Contains(t, got[0], filepath.Join(dir, "b.yaml")+":")
}

func problemStrings(ps config.Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
