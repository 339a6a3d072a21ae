package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dmfpipe/dmfpipe/app"
	"github.com/dmfpipe/dmfpipe/dmf"
	"github.com/dmfpipe/dmfpipe/dmf/catalog"
	"github.com/dmfpipe/dmfpipe/dmf/datapackage"
	"github.com/dmfpipe/dmfpipe/internal/tempfile"
)

func newDMFCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dmf",
		Short: "Talk to an F&O environment's DMF APIs directly (ad-hoc import, export, recurring jobs)",
		Long: `dmf runs single Data Management Framework operations against an environment of the
config: import a CSV or package, follow an execution, export a data project, enqueue to
or dequeue from a recurring data job, and list the data entities.`,
	}
	cmd.AddCommand(newDMFImportCmd(), newDMFStatusCmd(), newDMFExportCmd(),
		newDMFEnqueueCmd(), newDMFDequeueCmd(), newDMFEntitiesCmd())
	return cmd
}

// dmfFlags are the flags every dmf subcommand shares.
type dmfFlags struct {
	cfgPath string
	env     string
	json    bool
}

func (f *dmfFlags) register(cmd *cobra.Command, withJSON bool) {
	addConfigFlag(cmd, &f.cfgPath)
	cmd.Flags().StringVar(&f.env, "env", "", "environment name from the config (may be omitted when there is only one)")
	if withJSON {
		cmd.Flags().BoolVar(&f.json, "json", false, "print one JSON object instead of text")
	}
}

// client loads the config and returns the DMF client of the chosen environment.
func (f *dmfFlags) client(cmd *cobra.Command) (*dmf.Client, error) {
	log, err := newLogger(cmd, slog.LevelWarn)
	if err != nil {
		return nil, err
	}
	a, err := loadApp(f.cfgPath, app.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if f.env == "" && len(a.Config().Environments) != 1 {
		return nil, usageError(fmt.Errorf("--env is required: the config defines %d environments", len(a.Config().Environments)))
	}
	c, err := a.DMF(f.env)
	if err != nil {
		return nil, usageError(err)
	}
	return c, nil
}

// clientSavingTo is client for a command that saves files in outDir, which it creates.
func (f *dmfFlags) clientSavingTo(cmd *cobra.Command, outDir string) (*dmf.Client, error) {
	c, err := f.client(cmd)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	return c, nil
}

// outcomeExit maps a terminal execution status onto the process exit code.
func outcomeExit(st dmf.ExecutionStatus) error {
	switch st {
	case dmf.StatusSucceeded:
		return nil
	case dmf.StatusPartiallySucceeded:
		return &exitError{code: exitPartial}
	default:
		return &exitError{code: exitFailed}
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonError is an execution error in --json output.
type jsonError struct {
	RecordID string `json:"record_id,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
}

func jsonErrors(errs []dmf.ExecutionError, limit int) []jsonError {
	out := make([]jsonError, 0, min(len(errs), limit))
	for _, e := range errs[:min(len(errs), limit)] {
		out = append(out, jsonError{RecordID: e.RecordID, Field: e.Field, Message: e.Message})
	}
	return out
}

func printErrors(w io.Writer, errs []dmf.ExecutionError, limit int) {
	if len(errs) == 0 {
		return
	}
	fmt.Fprintf(w, "%s", plural(len(errs), "error"))
	if len(errs) > limit {
		fmt.Fprintf(w, " (first %d)", limit)
	}
	fmt.Fprintln(w, ":")
	for _, e := range errs[:min(len(errs), limit)] {
		where := "record " + e.RecordID
		if e.RecordID == "" {
			where = "execution"
		}
		if e.Field != "" {
			where += " " + e.Field
		}
		fmt.Fprintf(w, "  %s: %s\n", where, strings.ReplaceAll(e.Message, "\n", " "))
	}
}

func newDMFImportCmd() *cobra.Command {
	var (
		f                                  dmfFlags
		entity, legalEntity, group, execID string
		errorsDir                          string
		maxErrors                          int
	)
	cmd := &cobra.Command{
		Use:   "import FILE.csv|PACKAGE.zip",
		Short: "Import a CSV or a data package and wait for the outcome",
		Long: `import sends one file to F&O through the data management package API and waits for
the execution to finish. A .zip is sent as the data package it is; any other file is read
as a UTF-8 CSV whose header row names the entity's fields, and is streamed into a
CSV-Unicode package first.

Exit status: 0 Succeeded, 2 PartiallySucceeded, 1 Failed, Canceled or Unknown.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			isZip := strings.EqualFold(filepath.Ext(args[0]), ".zip")
			if group == "" || (!isZip && entity == "") {
				return usageError(errors.New("--definition-group is required, and --entity unless FILE is a package zip"))
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			pkg, err := openImportPackage(args[0], isZip, datapackage.Spec{DefinitionGroup: group, Entity: entity})
			if err != nil {
				return err
			}
			defer pkg.close()
			ctx := cmd.Context()
			res, err := c.Import(ctx, dmf.ImportJob{
				Package: pkg.file, Size: pkg.size,
				DefinitionGroupID: group, LegalEntityID: legalEntity, ExecutionID: execID,
			})
			if err != nil {
				if res != nil {
					return fmt.Errorf("%w (execution %s; follow it with `pipeline dmf status`)", err, res.ExecutionID)
				}
				return err
			}
			var rep *dmf.ErrorReport
			if res.Status != dmf.StatusSucceeded {
				if rep, err = c.CollectErrors(ctx, res.ExecutionID, pkg.entities); err != nil {
					return fmt.Errorf("execution %s ended %s; reading its errors: %w", res.ExecutionID, res.Status, err)
				}
			}
			saved, err := saveErrorFiles(ctx, c, rep, errorsDir, res.ExecutionID)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				summary := map[string]any{
					"execution_id": res.ExecutionID, "status": res.Status, "package_bytes": pkg.size,
					"error_count": 0, "errors": []jsonError{}, "error_files": saved,
				}
				if pkg.rows >= 0 {
					summary["rows"] = pkg.rows
				}
				if rep != nil {
					summary["error_count"] = len(rep.Errors)
					summary["errors"] = jsonErrors(rep.Errors, maxErrors)
				}
				if err := printJSON(out, summary); err != nil {
					return err
				}
				return outcomeExit(res.Status)
			}
			rows := ""
			if pkg.rows >= 0 {
				rows = fmt.Sprintf(", %s sent", plural(int(pkg.rows), "row"))
			}
			fmt.Fprintf(out, "execution %s: %s%s\n", res.ExecutionID, res.Status, rows)
			if rep != nil {
				printErrors(out, rep.Errors, maxErrors)
			}
			for _, s := range saved {
				fmt.Fprintf(out, "%s error file of %s: %s\n", s.Kind, s.Entity, s.Path)
			}
			return outcomeExit(res.Status)
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&entity, "entity", "", `DMF entity label, e.g. "Customers V3" (required for a CSV)`)
	fl.StringVar(&legalEntity, "legal-entity", "", "company (dataAreaId), e.g. USMF")
	fl.StringVar(&group, "definition-group", "", "data project (definition group); created from the package when new")
	fl.StringVar(&execID, "execution-id", "", "execution id to use (default: generated); reusing one makes a retry safe")
	fl.StringVar(&errorsDir, "errors-dir", "", "download F&O's staging and target error files into this folder")
	fl.IntVar(&maxErrors, "max-errors", 20, "how many execution errors to print")
	return cmd
}

// importPackage is a package file ready to upload.
type importPackage struct {
	file     *os.File
	size     int64
	rows     int64 // -1 for a ready-made package
	entities []string
	temp     bool
}

func (p *importPackage) close() {
	p.file.Close()
	if p.temp {
		os.Remove(p.file.Name())
	}
}

// openImportPackage opens a package zip as it is, or streams a UTF-8 CSV into a
// temporary package.
func openImportPackage(path string, isZip bool, spec datapackage.Spec) (*importPackage, error) {
	if isZip {
		rc, err := datapackage.Open(path)
		if err != nil {
			return nil, usageError(err)
		}
		rc.Close()
		p := &importPackage{rows: -1}
		for _, e := range rc.Manifest.Entities {
			p.entities = append(p.entities, e.EntityName)
		}
		if p.file, err = os.Open(path); err != nil {
			return nil, err
		}
		st, err := p.file.Stat()
		if err != nil {
			p.file.Close()
			return nil, err
		}
		p.size = st.Size()
		return p, nil
	}
	// Use the catalog's spelling of the label and its AOT name when it knows the entity.
	if e, ok := catalog.Default().Lookup(spec.Entity); ok {
		spec.Entity, spec.TargetEntity = e.DMFName, e.AOTName
	}
	in, err := os.Open(path)
	if err != nil {
		return nil, usageError(err)
	}
	defer in.Close()
	tmp, err := tempfile.Create("", "dmf-*.zip")
	if err != nil {
		return nil, err
	}
	p := &importPackage{file: tmp, temp: true, entities: []string{spec.Entity}}
	if err := writeCSVPackage(tmp, in, path, spec, &p.rows); err != nil {
		p.close()
		return nil, err
	}
	st, err := tmp.Stat()
	if err != nil {
		p.close()
		return nil, err
	}
	p.size = st.Size()
	return p, nil
}

// writeCSVPackage streams a UTF-8 CSV (header row = field names) into a package.
func writeCSVPackage(w io.Writer, in io.Reader, name string, spec datapackage.Spec, rows *int64) error {
	br := bufio.NewReaderSize(in, 256<<10)
	if bom, _ := br.Peek(3); len(bom) == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return usageError(fmt.Errorf("%s: reading the header row: %w", name, err))
	}
	spec.Fields = append([]string(nil), header...)
	for i := range spec.Fields {
		spec.Fields[i] = strings.TrimSpace(spec.Fields[i])
	}
	pw, err := datapackage.NewWriter(w, spec)
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", name, err))
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return usageError(fmt.Errorf("%s: %w", name, err))
		}
		if err := pw.WriteRow(rec); err != nil {
			line, _ := cr.FieldPos(0)
			return usageError(fmt.Errorf("%s line %d: %w", name, line, err))
		}
	}
	if err := pw.Close(); err != nil {
		return err
	}
	*rows = pw.Rows()
	return nil
}

// savedErrorFile is an error file downloaded by --errors-dir.
type savedErrorFile struct {
	Entity string `json:"entity"`
	Kind   string `json:"kind"`
	Path   string `json:"path"`
}

func saveErrorFiles(ctx context.Context, c *dmf.Client, rep *dmf.ErrorReport, dir, execID string) ([]savedErrorFile, error) {
	saved := []savedErrorFile{}
	if rep == nil || dir == "" {
		return saved, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, ef := range rep.Files {
		path := filepath.Join(dir, safeFileName(fmt.Sprintf("%s-%s-%s.csv", execID, ef.Entity, ef.Kind)))
		if err := downloadToFile(path, func(w *os.File) error {
			_, err := c.DownloadBlob(ctx, ef.URL, w)
			return err
		}); err != nil {
			return nil, fmt.Errorf("saving the %s error file of %s: %w", ef.Kind, ef.Entity, err)
		}
		saved = append(saved, savedErrorFile{Entity: ef.Entity, Kind: string(ef.Kind), Path: path})
	}
	return saved, nil
}

// downloadToFile writes path through a temporary file renamed into place, so that a
// failed download leaves nothing behind.
func downloadToFile(path string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dmfpipe-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// safeFileName replaces characters that are not allowed in file names on common
// systems.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func newDMFStatusCmd() *cobra.Command {
	var f dmfFlags
	cmd := &cobra.Command{
		Use:   "status EXECUTION_ID",
		Short: "Print an execution's status (and its first errors when it did not succeed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			id := args[0]
			st, err := c.GetExecutionSummaryStatus(cmd.Context(), id)
			if err != nil {
				return err
			}
			var errs []dmf.ExecutionError
			if st.Terminal() && st != dmf.StatusSucceeded {
				if errs, err = c.GetExecutionErrors(cmd.Context(), id); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, map[string]any{"execution_id": id, "status": st, "terminal": st.Terminal(),
					"error_count": len(errs), "errors": jsonErrors(errs, 20)})
			}
			fmt.Fprintf(out, "execution %s: %s\n", id, st)
			printErrors(out, errs, 20)
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func newDMFExportCmd() *cobra.Command {
	var (
		f                  dmfFlags
		group, legalEntity string
		outDir, execID     string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Run an export data project and save its package and data files",
		Long: `export runs an existing export data project (ExportToPackage), waits for it, and
saves the package as OUT/<execution id>.zip along with each entity's data file extracted
next to it.

Exit status: 0 Succeeded, 2 PartiallySucceeded, 1 Failed, Canceled or Unknown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group == "" || outDir == "" {
				return usageError(errors.New("--definition-group and --out are required"))
			}
			c, err := f.clientSavingTo(cmd, outDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if execID == "" {
				execID = dmf.NewExecutionID(group)
			}
			zipPath := filepath.Join(outDir, safeFileName(execID)+".zip")
			var res *dmf.ExportResult
			err = downloadToFile(zipPath, func(w *os.File) error {
				var err error
				res, err = c.Export(ctx, dmf.ExportJob{DefinitionGroupID: group, LegalEntityID: legalEntity, ExecutionID: execID}, w)
				return err
			})
			if err != nil {
				return err
			}
			type fileOut struct {
				Entity string `json:"entity"`
				Path   string `json:"path"`
				Rows   int64  `json:"rows"` // -1 when the file is not CSV
			}
			files := []fileOut{}
			if res.PackageBytes > 0 {
				extracted, err := extractPackage(zipPath, outDir)
				if err != nil {
					return err
				}
				for _, e := range extracted {
					files = append(files, fileOut(e))
				}
			} else {
				os.Remove(zipPath)
				zipPath = ""
			}
			out := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(out, map[string]any{"execution_id": res.ExecutionID, "status": res.Status,
					"package": zipPath, "package_bytes": res.PackageBytes, "files": files}); err != nil {
					return err
				}
				return outcomeExit(res.Status)
			}
			fmt.Fprintf(out, "execution %s: %s\n", res.ExecutionID, res.Status)
			if zipPath != "" {
				fmt.Fprintf(out, "package %s (%d bytes)\n", zipPath, res.PackageBytes)
			}
			for _, fo := range files {
				rows := ""
				if fo.Rows >= 0 {
					rows = " (" + plural(int(fo.Rows), "row") + ")"
				}
				fmt.Fprintf(out, "  %s: %s%s\n", fo.Entity, fo.Path, rows)
			}
			return outcomeExit(res.Status)
		},
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&group, "definition-group", "", "export data project (must exist)")
	fl.StringVar(&legalEntity, "legal-entity", "", "company (dataAreaId), e.g. USMF")
	fl.StringVar(&outDir, "out", "", "folder for the package and its data files")
	fl.StringVar(&execID, "execution-id", "", "execution id to use (default: generated)")
	return cmd
}

type extractedFile struct {
	Entity string
	Path   string
	Rows   int64
}

// extractPackage copies each entity's data file out of the package into dir and
// counts the rows of CSV files.
func extractPackage(zipPath, dir string) ([]extractedFile, error) {
	pkg, err := datapackage.Open(zipPath)
	if err != nil {
		return nil, err
	}
	defer pkg.Close()
	var out []extractedFile
	for _, e := range pkg.Manifest.Entities {
		dst := filepath.Join(dir, safeFileName(filepath.Base(filepath.FromSlash(e.InputFilePath))))
		err := downloadToFile(dst, func(w *os.File) error {
			r, err := pkg.Open(e.InputFilePath)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(w, r)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("extracting %s: %w", e.InputFilePath, err)
		}
		rows := int64(-1)
		if rs, err := pkg.Rows(e); err == nil {
			rows = 0
			for {
				if _, err := rs.Next(); err != nil {
					if !errors.Is(err, io.EOF) {
						rs.Close()
						return nil, err
					}
					break
				}
				rows++
			}
			rs.Close()
		} else if !errors.Is(err, datapackage.ErrNotCSV) {
			return nil, err
		}
		out = append(out, extractedFile{Entity: e.EntityName, Path: dst, Rows: rows})
	}
	return out, nil
}

func newDMFEnqueueCmd() *cobra.Command {
	var (
		f                         dmfFlags
		activity, entity, company string
	)
	cmd := &cobra.Command{
		Use:   "enqueue FILE",
		Short: "Send a file or package to a recurring import data job; prints the message id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if activity == "" {
				return usageError(errors.New("--activity is required"))
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			in, err := os.Open(args[0])
			if err != nil {
				return usageError(err)
			}
			defer in.Close()
			st, err := in.Stat()
			if err != nil {
				return err
			}
			contentType := "application/octet-stream"
			if strings.EqualFold(filepath.Ext(args[0]), ".zip") {
				contentType = "application/zip"
			}
			id, err := c.Enqueue(cmd.Context(), dmf.EnqueueRequest{
				ActivityID: activity, Entity: entity, Company: company,
				ExternalID: filepath.Base(args[0]), ContentType: contentType,
				Body: in, Size: st.Size(),
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&activity, "activity", "", "recurring data job (activity) id")
	fl.StringVar(&entity, "entity", "", "DMF entity label; required when the job takes individual files")
	fl.StringVar(&company, "company", "", "target legal entity")
	return cmd
}

func newDMFDequeueCmd() *cobra.Command {
	var (
		f                dmfFlags
		activity, outDir string
	)
	cmd := &cobra.Command{
		Use:   "dequeue",
		Short: "Download and acknowledge every waiting message of a recurring export data job",
		Long: `dequeue takes messages from a recurring export job until its queue is empty. Each
file is saved as OUT/<correlation id>.zip and only then acknowledged; a message that
cannot be saved is left unacknowledged and comes back after 30 minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if activity == "" || outDir == "" {
				return usageError(errors.New("--activity and --out are required"))
			}
			c, err := f.clientSavingTo(cmd, outDir)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			n := 0
			for {
				m, err := c.Dequeue(ctx, activity)
				if err != nil {
					return err
				}
				if m == nil {
					break
				}
				if !bool(m.IsDownLoadFileExist) {
					fmt.Fprintf(out, "message %s has no file: %s\n", m.CorrelationID, m.FileDownLoadErrorMessage)
				} else {
					path := filepath.Join(outDir, safeFileName(m.CorrelationID)+".zip")
					if err := downloadToFile(path, func(w *os.File) error {
						_, err := c.DownloadMessage(ctx, m, w)
						return err
					}); err != nil {
						return fmt.Errorf("message %s: %w", m.CorrelationID, err)
					}
					fmt.Fprintln(out, path)
				}
				if err := c.Ack(ctx, activity, m); err != nil {
					return fmt.Errorf("acknowledging message %s: %w", m.CorrelationID, err)
				}
				n++
			}
			fmt.Fprintf(out, "%s dequeued\n", plural(n, "message"))
			return nil
		},
	}
	f.register(cmd, false)
	fl := cmd.Flags()
	fl.StringVar(&activity, "activity", "", "recurring data job (activity) id")
	fl.StringVar(&outDir, "out", "", "folder for the downloaded files")
	return cmd
}

func newDMFEntitiesCmd() *cobra.Command {
	var (
		f      dmfFlags
		filter string
	)
	cmd := &cobra.Command{
		Use:   "entities",
		Short: "List the environment's data entities (/metadata/DataEntities)",
		Long: `entities lists the data entities of an F&O environment (/metadata/DataEntities),
with the label a project's target.entity takes for those dmfpipe's built-in catalog
knows ("pipeline entities" lists the catalog offline, with every entity's fields). An
entity without a label can still be sent with "pipeline dmf import --entity", under
the name DMF shows it by.`,
		Example: `  pipeline dmf entities -c pipeline.yaml --env contoso-prod --filter customer`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			all, err := c.DataEntities(cmd.Context(), "")
			if err != nil {
				return err
			}
			cat := catalog.Default()
			needle := strings.ToLower(filter)
			list := []liveEntity{}
			known := 0
			for _, e := range all {
				le := liveEntity{DataEntity: e, Label: catalogLabel(cat, e)}
				hay := strings.ToLower(e.Name + "\x00" + e.PublicEntityName + "\x00" + e.PublicCollectionName + "\x00" + e.LabelID + "\x00" + le.Label)
				if strings.Contains(hay, needle) {
					list = append(list, le)
					if le.Label != "" {
						known++
					}
				}
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, list)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tLABEL (target.entity)\tPUBLIC ENTITY\tCOLLECTION\tCATEGORY\tREAD-ONLY")
			for _, e := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\n", e.Name, orDash(e.Label), e.PublicEntityName, e.PublicCollectionName, e.EntityCategory, e.IsReadOnly)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%d entities, %d of them in dmfpipe's catalog (a label: usable as target.entity)\n", len(list), known)
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringVar(&filter, "filter", "", "show only entities whose names contain TEXT (case-insensitive)")
	return cmd
}

// liveEntity is an environment's data entity with the catalog label a config needs.
type liveEntity struct {
	dmf.DataEntity
	// Label is the catalog's label of the entity (target.entity), empty when the catalog
	// does not know it.
	Label string `json:"label,omitempty"`
}

// catalogLabel is the label of a live entity in the catalog, found by its AOT or OData
// names: F&O's LabelId may be a label id such as @SYS12345 rather than the text.
func catalogLabel(cat *catalog.Catalog, e dmf.DataEntity) string {
	for _, n := range []string{e.Name, e.PublicEntityName, e.PublicCollectionName} {
		if n == "" {
			continue
		}
		if ent, ok := cat.Lookup(n); ok {
			return ent.DMFName
		}
	}
	return ""
}
