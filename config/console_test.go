package config_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

// testHash is the Argon2id hash of "pw" (cheap parameters; written by libargon2).
const testHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$hdOCkfYHTj0inTmhuQhoZlVQ3N/UnQ5yjkawWQaIZAo"

func loadConsole(t *testing.T, console string, env map[string]string) (*config.Config, string, error) {
	t.Helper()
	dir := writeConfig(t, map[string]string{"c.yaml": validConfig + console})
	file := filepath.Join(dir, "c.yaml")
	cfg, err := config.Loader{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}.Load(file)
	return cfg, file, err
}

func TestConsoleUsersTokensAndDefaults(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConsole(t, fmt.Sprintf(`
console:
  base_url: https://dmf.example.com/console
  users:
    - { name: ann, role: operator, password_hash: "%s" }
    - { name: bob@example.com, role: viewer, password_hash: "%s" }
  api_tokens:
    - { name: ci, role: operator, token: "${env:CONSOLE_TOKEN}" }
`, testHash, testHash), map[string]string{"CONSOLE_TOKEN": strings.Repeat("t", 40)})
	require.NoError(t, err)
	c := cfg.Console
	assert.Equal(t, config.DefaultConsoleAddr, c.Addr)
	assert.Equal(t, 12*time.Hour, c.SessionTTL.D())
	require.NotNil(t, c.SecureCookies)
	assert.True(t, *c.SecureCookies, "https base_url")
	require.Len(t, c.Users, 2)
	assert.Equal(t, "operator", c.Users[0].Role)
	require.Len(t, c.APITokens, 1)
	assert.Equal(t, strings.Repeat("t", 40), c.APITokens[0].Token.Value())
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, *c.APITokens[0], c.APITokens[0]), "tttt", "the token never prints")
}

func TestConsoleSecureCookiesFollowTheBaseURL(t *testing.T) {
	t.Parallel()
	for console, want := range map[string]bool{
		"": true,
		"console: { base_url: http://127.0.0.1:8080 }":                          false,
		"console: { base_url: HTTP://dmf.local }":                               false,
		"console: { base_url: https://dmf.example.com }":                        true,
		"console: { base_url: http://127.0.0.1:8080, secure_cookies: true }":    true,
		"console: { base_url: https://dmf.example.com, secure_cookies: false }": false,
	} {
		cfg, _, err := loadConsole(t, "\n"+console+"\n", nil)
		require.NoError(t, err, console)
		assert.Equal(t, want, *cfg.Console.SecureCookies, console)
	}
}

func TestConsoleProblemsAreLocated(t *testing.T) {
	t.Parallel()
	_, file, err := loadConsole(t, fmt.Sprintf(`
console:
  base_url: ftp://dmf.example.com
  session_ttl: 1m
  users:
    - { name: ann, role: operator, password_hash: "%[1]s" }
    - { name: Ann, role: viewer, password_hash: "%[1]s" }
    - { name: "no spaces", role: boss, password_hash: "$2b$12$abc" }
    - { name: carl, role: admin }
    - { role: viewer, password_hash: "%[1]s" }
  api_tokens:
    - { name: short, role: operator, token: abc }
    - { name: unset, role: operator, token: "${env:NOPE}" }
    - { name: notoken, role: admin }
    - { name: one, role: viewer, token: "%[2]s" }
    - { name: two, role: viewer, token: "%[2]s" }
`, testHash, strings.Repeat("x", 32)), nil)
	got := problemsOf(t, err)
	line := func(n int, msg string) string { return fmt.Sprintf("%s:%d: %s", file, n, msg) }
	// The console block starts at line 26, after validConfig.
	want := []string{
		line(27, `console: base_url "ftp://dmf.example.com" is not an absolute http(s) URL`),
		line(28, "console: session_ttl 1m0s is out of range (5m0s to 2160h0m0s)"),
		line(31, fmt.Sprintf("console: user Ann is already defined at %s:30", file)),
		line(32, `console: user name "no spaces" must be 1 to 64 letters, digits or . _ @ + - (starting with a letter or digit)`),
		line(32, `console: user no spaces: role must be viewer, operator, admin, not "boss"`),
		line(32, `console: user no spaces: password_hash: not an argon2id hash: want $argon2id$v=19$m=...,t=...,p=...$salt$hash (make one with: pipeline console hash-password)`),
		line(33, "console: user carl: password_hash is required (make one with: pipeline console hash-password)"),
		line(34, "console: user: name is required"),
		line(36, "console: api token short: token is 3 characters long, at least 32 are needed (openssl rand -hex 32)"),
		line(37, "console.api_tokens[1].token: environment variable NOPE is not set"),
		line(38, "console: api token notoken: token is required (use ${env:NAME} or ${file:PATH})"),
		line(40, "console: api tokens one and two have the same token"),
	}
	assert.ElementsMatch(t, want, got)
}

// Behind a trusted proxy the users need no password: the proxy signed them in.
func TestConsoleTrustedProxyNeedsNoPasswords(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConsole(t, `
console:
  trusted_proxy_header: X-Forwarded-User
  users:
    - { name: ann, role: admin }
`, nil)
	require.NoError(t, err)
	assert.Equal(t, "X-Forwarded-User", cfg.Console.TrustedProxyHeader)

	_, file, err := loadConsole(t, `
console:
  trusted_proxy_header: cookie
`, nil)
	assert.Equal(t, []string{file + ":27: console: trusted_proxy_header cookie is set by browsers, not by a proxy: use one the proxy sets, such as X-Forwarded-User"},
		problemsOf(t, err))
}
