package config

import (
	"fmt"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dmfpipe/dmfpipe/internal/argon2id"
)

// consoleName keeps user and token names readable in the audit trail and in URLs.
var consoleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// headerToken is an HTTP header name (RFC 9110 token).
var headerToken = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// Headers a proxy cannot be trusted to carry a user name in: the browser or the
// transport sets them.
var reservedHeaders = []string{"Authorization", "Cookie", "Host", "Content-Type", "Content-Length", "Origin", "Referer",
	"Sec-Fetch-Site", "User-Agent", "Connection", "Transfer-Encoding"}

// Bounds of console.session_ttl.
const (
	minSessionTTL = 5 * time.Minute
	maxSessionTTL = 90 * 24 * time.Hour
)

func (k checker) console(c *Console) {
	const key = "console"
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			k.at(key+".base_url", Position{}, "console: base_url %q is not an absolute http(s) URL", c.BaseURL)
		case u.User != nil:
			k.at(key+".base_url", Position{}, "console: base_url must not carry credentials")
		case u.RawQuery != "" || u.Fragment != "":
			k.at(key+".base_url", Position{}, "console: base_url must not have a query or fragment: links are built by appending /jobs/ID")
		}
	}
	if ttl := c.SessionTTL.D(); ttl < minSessionTTL || ttl > maxSessionTTL {
		k.at(key+".session_ttl", Position{}, "console: session_ttl %s is out of range (%s to %s)", c.SessionTTL, Duration(minSessionTTL), Duration(maxSessionTTL))
	}
	if h := c.TrustedProxyHeader; h != "" {
		switch {
		case !headerToken.MatchString(h):
			k.at(key+".trusted_proxy_header", Position{}, "console: trusted_proxy_header %q is not an HTTP header name", h)
		case slices.Contains(reservedHeaders, textproto.CanonicalMIMEHeaderKey(h)):
			k.at(key+".trusted_proxy_header", Position{}, "console: trusted_proxy_header %s is set by browsers, not by a proxy: use one the proxy sets, such as X-Forwarded-User", h)
		}
	}
	names := map[string]string{} // lower-case name → key of its first use
	for i, u := range c.Users {
		at := fmt.Sprintf("%s.users[%d]", key, i)
		k.consoleName(at, u.Pos, "user", u.Name, names)
		k.consoleRole(at, u.Pos, "user "+u.Name, u.Role)
		switch {
		case k.missing(at+".password_hash", u.PasswordHash == "") && c.TrustedProxyHeader == "":
			k.at(at, u.Pos, "console: user %s: password_hash is required (make one with: pipeline console hash-password)", u.Name)
		case u.PasswordHash != "":
			if _, err := argon2id.Parse(u.PasswordHash); err != nil {
				k.at(at+".password_hash", u.Pos, "console: user %s: password_hash: %v (make one with: pipeline console hash-password)", u.Name, err)
			}
		}
	}
	tokens := map[string]string{}
	for i, t := range c.APITokens {
		at := fmt.Sprintf("%s.api_tokens[%d]", key, i)
		k.consoleName(at, t.Pos, "api token", t.Name, tokens)
		k.consoleRole(at, t.Pos, "api token "+t.Name, t.Role)
		switch v := t.Token.Value(); {
		case k.missing(at+".token", v == ""):
			k.at(at, t.Pos, "console: api token %s: token is required (use ${env:NAME} or ${file:PATH})", t.Name)
		case v != "" && len(v) < MinAPITokenLength:
			k.at(at+".token", t.Pos, "console: api token %s: token is %d characters long, at least %d are needed (openssl rand -hex 32)", t.Name, len(v), MinAPITokenLength)
		case strings.TrimSpace(v) != v || strings.ContainsAny(v, " \t\r\n"):
			k.at(at+".token", t.Pos, "console: api token %s: token holds white space, which a bearer header cannot carry", t.Name)
		}
	}
	seen := map[string]int{}
	for i, t := range c.APITokens {
		if j, dup := seen[t.Token.Value()]; dup && t.Token.Value() != "" {
			k.at(fmt.Sprintf("%s.api_tokens[%d].token", key, i), t.Pos, "console: api tokens %s and %s have the same token", c.APITokens[j].Name, t.Name)
		}
		seen[t.Token.Value()] = i
	}
}

func (k checker) consoleName(at string, pos Position, what, name string, seen map[string]string) {
	switch {
	case name == "":
		k.at(at, pos, "console: %s: name is required", what)
	case !consoleName.MatchString(name):
		k.at(at+".name", pos, "console: %s name %q must be 1 to 64 letters, digits or . _ @ + - (starting with a letter or digit)", what, name)
	default:
		if prev, ok := seen[strings.ToLower(name)]; ok {
			k.at(at+".name", pos, "console: %s %s is already defined at %s", what, name, k.c.positions[prev+".name"])
		}
		seen[strings.ToLower(name)] = at
	}
}

func (k checker) consoleRole(at string, pos Position, what, role string) {
	if !slices.Contains(Roles, role) {
		if role == "" {
			k.at(at, pos, "console: %s: role is required (%s)", what, strings.Join(Roles, ", "))
			return
		}
		k.at(at+".role", pos, "console: %s: role must be %s, not %q", what, strings.Join(Roles, ", "), role)
	}
}
