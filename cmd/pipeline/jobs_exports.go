package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// What `jobs show` adds for an export job: the files it wrote and, for a recurring
// export, its messages.

// exportTrail is an export job's files and messages.
type exportTrail struct {
	files    []jobhistory.ExportFile
	messages []jobhistory.RecurringMessage
}

func readExportTrail(ctx context.Context, s *jobhistory.Store, id int64) (exportTrail, error) {
	var t exportTrail
	var err error
	if t.files, err = s.ExportFiles(ctx, id, ""); err != nil {
		return t, err
	}
	t.messages, err = s.JobMessages(ctx, id)
	return t, err
}

// printExportTrail prints the files and messages, when there are any.
func printExportTrail(w io.Writer, tw *tabwriter.Writer, t exportTrail) error {
	if len(t.files) == 0 && len(t.messages) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nfiles: %d\n", len(t.files))
	if len(t.files) > 0 {
		fmt.Fprintln(tw, "  KIND\tPATH\tENTITY\tPART\tROWS\tBYTES\tSHA-256")
		for _, f := range t.files {
			fmt.Fprintf(tw, "  %s\t%s:%s\t%s\t%d\t%d\t%d\t%s\n", f.Kind, f.Connection, oneLine(f.Path), orDash(f.Entity), f.Part, f.Rows, f.Bytes,
				hex.EncodeToString(f.SHA256))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(t.messages) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nmessages: %d\n", len(t.messages))
	fmt.Fprintln(tw, "  CORRELATION ID\tSTATUS\tDEQUEUES\tACKS\tROWS\tFILES\tERROR")
	for _, m := range t.messages {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%s\n", m.CorrelationID, m.Status, m.Dequeues, m.AckAttempts, m.Rows, m.Files, orDash(oneLine(m.Error)))
	}
	return tw.Flush()
}

// exportFileView and messageView are the --json forms.
type exportFileView struct {
	Kind   string `json:"kind"`
	Unit   string `json:"unit"`
	Path   string `json:"path"`
	Entity string `json:"entity,omitempty"`
	Part   int    `json:"part,omitempty"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

type messageView struct {
	CorrelationID string `json:"correlation_id"`
	Status        string `json:"status"`
	Dequeues      int    `json:"dequeues"`
	Acks          int    `json:"acks"`
	Rows          int64  `json:"rows"`
	Files         int    `json:"files"`
	Error         string `json:"error,omitempty"`
}

func (t exportTrail) views() ([]exportFileView, []messageView) {
	files := make([]exportFileView, len(t.files))
	for i, f := range t.files {
		files[i] = exportFileView{Kind: f.Kind, Unit: f.Unit, Path: f.Connection + ":" + f.Path, Entity: f.Entity, Part: f.Part,
			Rows: f.Rows, Bytes: f.Bytes, SHA256: hex.EncodeToString(f.SHA256)}
	}
	msgs := make([]messageView, len(t.messages))
	for i, m := range t.messages {
		msgs[i] = messageView{CorrelationID: m.CorrelationID, Status: m.Status, Dequeues: m.Dequeues, Acks: m.AckAttempts,
			Rows: m.Rows, Files: m.Files, Error: m.Error}
	}
	return files, msgs
}
