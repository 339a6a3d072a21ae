package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/dmfpipe/dmfpipe/imports"
	"github.com/dmfpipe/dmfpipe/jobhistory"
	"github.com/dmfpipe/dmfpipe/scheduler"
	"github.com/dmfpipe/dmfpipe/staging"
)

// A view builds what a page shows and the API returns, from a request.
type view func(r *http.Request) (any, error)

// A change does what a form or an API call asks, as the request's identity, and says
// what it did.
type change func(r *http.Request, in *imports.Action) (result, error)

// result is what a change did.
type result struct {
	// Message tells the user (a flash on the next page).
	Message string `json:"message"`
	// Next is the page to show next, when the form does not name one.
	Next string `json:"-"`
	// Data is what the API returns.
	Data any `json:"data,omitempty"`
}

// pageData is what every page template gets.
type pageData struct {
	Me    *identity
	Flash string
	Path  string
	Data  any
}

// page serves a view as the HTML page name.
func (c *Console) page(name string, v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := v(r)
		if err != nil {
			c.failWith(w, r, err)
			return
		}
		c.render(w, r, http.StatusOK, name, data)
	}
}

// api serves a view as JSON.
func (c *Console) api(v view) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := v(r)
		if err != nil {
			c.failWith(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, data)
	}
}

// maxBody bounds a form or a JSON body.
const maxBody = 1 << 20

// form serves a change from an HTML form: it then goes to the form's "back" page (or the
// change's), with its message.
func (c *Console) form(ch change) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		in, err := actionFromForm(r)
		var res result
		if err == nil {
			res, err = ch(r, &in)
		}
		back := r.PostFormValue("back")
		if back == "" {
			back = res.Next
		}
		if err != nil {
			if statusOf(err) == http.StatusInternalServerError {
				c.internal(w, r, err)
				return
			}
			c.sessions.Put(r.Context(), "flash", "Not done: "+messageOf(err))
		} else {
			c.sessions.Put(r.Context(), "flash", res.Message)
		}
		http.Redirect(w, r, safeNext(back), http.StatusSeeOther)
	}
}

// apiAction serves a change from a JSON body (an imports.Action: set, reason, kind,
// filter; empty for the changes that take nothing).
func (c *Console) apiAction(ch change) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in imports.Action
		body := http.MaxBytesReader(w, r.Body, maxBody)
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			c.fail(w, r, http.StatusBadRequest, "reading the request body: "+err.Error())
			return
		}
		res, err := ch(r, &in)
		if err != nil {
			c.failWith(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// render executes a page template; the output is buffered so that a template error is a
// clean 500, not half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	c.renderTemplate(w, r, status, name, "layout", data)
}

func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, status int, page, tmpl string, data any) {
	t, ok := c.pages[page]
	if !ok {
		c.internal(w, r, fmt.Errorf("no page %q", page))
		return
	}
	pd := pageData{Me: identityOf(r.Context()), Path: r.URL.RequestURI(), Data: data}
	if c.store != nil && r.Method == http.MethodGet && tmpl == "layout" {
		pd.Flash = c.sessions.PopString(r.Context(), "flash")
	}
	var exec any = pd
	if tmpl != "layout" {
		exec = data // a fragment for htmx
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, exec); err != nil {
		c.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorPage is what the error page shows.
type errorPage struct {
	Status  int
	Title   string
	Message string
}

// fail answers an error: JSON for the API, a page for a browser.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) || r.Header.Get("Accept") == "application/json" {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, msg)
		return
	}
	c.render(w, r, status, "error", errorPage{Status: status, Title: http.StatusText(status), Message: msg})
}

// failWith answers err: the stores' and stages' refusals by their status, anything
// else as an internal error.
func (c *Console) failWith(w http.ResponseWriter, r *http.Request, err error) {
	if statusOf(err) == http.StatusInternalServerError {
		c.internal(w, r, err)
		return
	}
	c.fail(w, r, statusOf(err), err.Error())
}

// internal logs an unexpected error and answers 500 without its details.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	c.log.Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
	status := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
	}
	msg := "something went wrong on the server; the error is in its log"
	if isAPI(r) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// badRequest is an error in what the request asks (HTTP 400).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badRequestf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// statusOf maps the stores' and stages' errors to HTTP statuses.
func statusOf(err error) int {
	var br *badRequest
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &br), errors.Is(err, staging.ErrBadFilter):
		return http.StatusBadRequest
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, jobhistory.ErrJobNotFound), errors.Is(err, staging.ErrNoJob), errors.Is(err, staging.ErrNoRow),
		errors.Is(err, jobhistory.ErrEntryNotFound), errors.Is(err, scheduler.ErrUnknownProject), errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, staging.ErrNotEditable), errors.Is(err, imports.ErrNothingSelected), errors.Is(err, imports.ErrJobRunning),
		errors.Is(err, imports.ErrJobEnded), errors.Is(err, imports.ErrNothingToSend), errors.Is(err, imports.ErrNotSendable):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// errNotFound is a thing the console looked for and did not find.
var errNotFound = errors.New("not found")

// messageOf is what a user is told of err; an unexpected error is not detailed.
func messageOf(err error) string {
	if statusOf(err) == http.StatusInternalServerError {
		return "something went wrong on the server; the error is in its log"
	}
	return err.Error()
}

// pathInt reads a numeric path value.
func pathInt(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n < 1 {
		return 0, badRequestf("%s %q is not a number", name, r.PathValue(name))
	}
	return n, nil
}
