package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveToken implements the Entra ID client-credentials endpoints (dmf-api.md §1):
// POST /{tenant}/oauth2/v2.0/token (scope=<base>/.default) and /{tenant}/oauth2/token
// (resource=<base>).
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	v2 := strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token")
	tenant, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "oauth2/")
	tenant = strings.TrimSuffix(tenant, "/")
	if v2 {
		e.countRequest("token.v2")
	} else {
		e.countRequest("token.v1")
	}
	if r.Method != http.MethodPost {
		writeEntraError(w, http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a "+r.Method+" request.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		e.violation("token request with Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed: "+err.Error())
		return
	}
	form := r.PostForm
	switch {
	case tenant != e.cfg.Tenant:
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	case form.Get("grant_type") == "":
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'grant_type'.")
		return
	case form.Get("grant_type") != "client_credentials":
		writeEntraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
		return
	case form.Get("client_id") == "":
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")
		return
	case form.Get("client_id") != e.cfg.ClientID:
		writeEntraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", form.Get("client_id"), tenant))
		return
	case form.Get("client_secret") != e.cfg.ClientSecret:
		writeEntraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}

	var resource string
	if v2 {
		scope := form.Get("scope")
		if scope == "" {
			writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144,
				"The request body must contain the following parameter: 'scope'.")
			return
		}
		if !strings.HasSuffix(scope, "/.default") {
			writeEntraError(w, http.StatusBadRequest, "invalid_scope", 1002012,
				fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
			return
		}
		resource = strings.TrimSuffix(scope, "/.default")
	} else {
		resource = form.Get("resource")
		if resource == "" {
			writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144,
				"The request body must contain the following parameter: 'resource'.")
			return
		}
	}
	if strings.HasSuffix(resource, "/") {
		e.violation("token requested for resource %q with a trailing slash", resource)
	}

	now := e.now()
	exp := now.Add(e.cfg.TokenTTL)
	token := e.issueToken(resource, now, exp)
	secs := int64(e.cfg.TokenTTL / time.Second)
	var body map[string]any
	if v2 {
		body = map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token}
	} else {
		s := strconv.FormatInt(secs, 10)
		body = map[string]any{
			"token_type": "Bearer", "expires_in": s, "ext_expires_in": s,
			"expires_on": strconv.FormatInt(exp.Unix(), 10), "not_before": strconv.FormatInt(now.Unix(), 10),
			"resource": resource, "access_token": token,
		}
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, http.StatusOK, body)
}

// issueToken makes an unsigned JWT-shaped bearer token and remembers its expiry.
func (e *Emulator) issueToken(resource string, now, exp time.Time) string {
	header, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "none"})
	claims, _ := json.Marshal(map[string]any{
		"aud": resource, "iss": "https://sts.windows.net/" + e.cfg.Tenant + "/", "appid": e.cfg.ClientID,
		"tid": e.cfg.Tenant, "iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(), "uti": newHex(16),
	})
	enc := base64.RawURLEncoding
	token := enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "."
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.tokens) >= 1024 {
		for t, x := range e.tokens {
			if !now.Before(x) {
				delete(e.tokens, t)
			}
		}
	}
	e.tokens[token] = exp
	return token
}

// authorized reports whether r carries a valid, unexpired bearer token.
func (e *Emulator) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	e.mu.Lock()
	exp, known := e.tokens[strings.TrimSpace(token)]
	e.mu.Unlock()
	return known && e.now().Before(exp)
}

// writeEntraError writes an Entra ID (AADSTS) error body.
func writeEntraError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newGUID(), newGUID()
	ts := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
	})
}
