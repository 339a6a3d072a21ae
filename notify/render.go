package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFS embed.FS

var (
	textTemplate = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/job.txt.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/job.html.tmpl"))
)

// summary is what every notification says about a job, whatever its form: the email's
// text and HTML bodies and the webhook's card are all rendered from it.
type summary struct {
	Subject string
	Status  Status
	Facts   []fact
	// Error says why the job failed or was skipped.
	Error string
	// Errors are the first row errors; More is how many rows wait beyond them ("" for none).
	Errors []errorLine
	More   string
	Link   string
}

type fact struct{ Name, Value string }

type errorLine struct {
	Location, Column, Field, Rule, Message string
}

// String is the error on one line: `line 12, column "Name", field NAME: is required (required)`.
func (e errorLine) String() string {
	var s string
	for _, part := range []string{e.Location, quoteIf(e.Column, "column "), prefixIf(e.Field, "field ")} {
		if part == "" {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += part
	}
	if s != "" {
		s += ": "
	}
	s += e.Message
	if e.Rule != "" {
		s += " (" + e.Rule + ")"
	}
	return s
}

func quoteIf(v, prefix string) string {
	if v == "" {
		return ""
	}
	return prefix + strconv.Quote(v)
}

func prefixIf(v, prefix string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

func (j Job) summary() summary {
	s := summary{Subject: j.Subject(), Status: j.Status, Error: j.Error, Link: j.Link()}
	add := func(name, value string) {
		if value != "" {
			s.Facts = append(s.Facts, fact{name, value})
		}
	}
	add("Project", j.Project)
	add("Job", strconv.FormatInt(j.ID, 10))
	add("Status", j.Status.label())
	add("Trigger", j.Trigger)
	add("File", j.File)
	if !j.Started.IsZero() {
		add("Started", j.Started.UTC().Format(time.RFC3339))
	}
	if j.Duration > 0 {
		add("Duration", j.Duration.Round(time.Second).String())
	}
	if j.Export != nil {
		j.Export.facts(add)
	} else if j.Status != StatusSkipped {
		c := j.Counts
		add("Rows read", count(c.Read))
		add("Staged", count(c.Staged))
		add("Invalid", count(c.Invalid))
		add("Uploaded", count(c.Uploaded))
		add("Imported", count(c.Imported))
		add("Rejected by F&O", count(c.Rejected))
		add("Chunks", strconv.Itoa(j.Chunks))
	}
	for _, e := range j.Errors {
		s.Errors = append(s.Errors, errorLine{
			Location: e.location(), Column: e.Column, Field: e.Field, Rule: e.Rule, Message: e.Message,
		})
	}
	if waiting := j.RowsWaiting(); waiting > int64(len(j.Errors)) && len(j.Errors) > 0 {
		s.More = count(waiting - int64(len(j.Errors)))
	}
	return s
}

// bodies renders the plain-text and HTML bodies of the job's email.
func (j Job) bodies() (text, html string, err error) {
	s := j.summary()
	var tb, hb bytes.Buffer
	if err := textTemplate.Execute(&tb, s); err != nil {
		return "", "", fmt.Errorf("rendering the text body: %w", err)
	}
	if err := htmlTemplate.Execute(&hb, s); err != nil {
		return "", "", fmt.Errorf("rendering the HTML body: %w", err)
	}
	return tb.String(), hb.String(), nil
}
