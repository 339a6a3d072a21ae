package dmf

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ImportJob is a whole package import (dmf-api.md §2.9): upload, ImportFromPackage,
// wait.
type ImportJob struct {
	// Package holds Size bytes of a package zip (see dmf/datapackage). Required.
	Package io.ReaderAt
	Size    int64
	// DefinitionGroupID is the data project. Required.
	DefinitionGroupID string
	// LegalEntityID is the company (dataAreaId).
	LegalEntityID string
	// ExecutionID identifies the run; empty generates one. Use a deterministic ID
	// (e.g. <project>-<job>-<chunk>-<attempt>) to make a crashed run's retry safe.
	ExecutionID string
	// StagingOnly stops after staging (execute=false).
	StagingOnly bool
	// KeepDefinition leaves an existing project definition as it is
	// (overwrite=false); required for packages with a composite entity.
	KeepDefinition bool
}

// ImportResult is the outcome of an import.
type ImportResult struct {
	ExecutionID string
	// Status is terminal unless Import returned an error while waiting.
	Status ExecutionStatus
}

// Import uploads job.Package, starts the import and waits for its terminal status.
// Once the execution has started, the result carries its ID even when an error is
// returned (e.g. ErrPollDeadline), so the caller can keep following it.
func (c *Client) Import(ctx context.Context, job ImportJob) (*ImportResult, error) {
	if job.Package == nil {
		return nil, errors.New("import: package is required")
	}
	loc, err := c.GetAzureWriteURL(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := c.UploadBlob(ctx, loc.BlobURL, job.Package, job.Size); err != nil {
		return nil, fmt.Errorf("import: uploading package: %w", err)
	}
	id, err := c.ImportFromPackage(ctx, ImportParams{
		PackageURL:        loc.BlobURL,
		DefinitionGroupID: job.DefinitionGroupID,
		ExecutionID:       job.ExecutionID,
		Execute:           !job.StagingOnly,
		Overwrite:         !job.KeepDefinition,
		LegalEntityID:     job.LegalEntityID,
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	res := &ImportResult{ExecutionID: id}
	res.Status, err = c.WaitForExecution(ctx, id)
	if err != nil {
		return res, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

// ErrorFileKind tells the two per-entity error files apart (§2.7).
type ErrorFileKind string

const (
	// StagingErrorFile holds the input rows that failed source-to-staging.
	StagingErrorFile ErrorFileKind = "staging"
	// TargetErrorKeysFile holds the keys of rows that failed staging-to-target.
	TargetErrorKeysFile ErrorFileKind = "target"
)

// ErrorFile is an error file ready for DownloadBlob.
type ErrorFile struct {
	Entity string
	Kind   ErrorFileKind
	// URL is a SAS URL: a secret while it is valid.
	URL string
}

// ErrorReport gathers what F&O says went wrong in an execution.
type ErrorReport struct {
	Errors []ExecutionError
	Files  []ErrorFile
}

// CollectErrors fetches GetExecutionErrors and, for each entity (DMF labels, as in
// the package manifest), the staging error file and the target error keys file.
func (c *Client) CollectErrors(ctx context.Context, executionID string, entities []string) (*ErrorReport, error) {
	errs, err := c.GetExecutionErrors(ctx, executionID)
	if err != nil {
		return nil, err
	}
	rep := &ErrorReport{Errors: errs}
	for _, entity := range entities {
		u, err := c.GetImportStagingErrorFileURL(ctx, executionID, entity)
		if err != nil {
			return nil, err
		}
		if u != "" {
			rep.Files = append(rep.Files, ErrorFile{Entity: entity, Kind: StagingErrorFile, URL: u})
		}
		has, err := c.GenerateImportTargetErrorKeysFile(ctx, executionID, entity)
		if err != nil {
			return nil, err
		}
		if !has {
			continue
		}
		u, err = c.WaitImportTargetErrorKeysFileURL(ctx, executionID, entity)
		if err != nil {
			return nil, err
		}
		rep.Files = append(rep.Files, ErrorFile{Entity: entity, Kind: TargetErrorKeysFile, URL: u})
	}
	return rep, nil
}

// ExportJob is a whole package export (§2.9): ExportToPackage, wait, download.
type ExportJob struct {
	// DefinitionGroupID is the export project, which must exist. Required.
	DefinitionGroupID string
	// LegalEntityID is the company (dataAreaId).
	LegalEntityID string
	// ExecutionID identifies the run; empty generates one.
	ExecutionID string
}

// ExportResult is the outcome of an export.
type ExportResult struct {
	ExecutionID string
	Status      ExecutionStatus
	// PackageBytes is the size of the downloaded package; 0 when the export did not
	// succeed (nothing is downloaded then).
	PackageBytes int64
}

// Export runs an export and, when it ends Succeeded or PartiallySucceeded, streams
// the package zip to dst. Any other terminal status is returned in the result, not
// as an error.
func (c *Client) Export(ctx context.Context, job ExportJob, dst io.Writer) (*ExportResult, error) {
	id, err := c.ExportToPackage(ctx, ExportParams{
		DefinitionGroupID: job.DefinitionGroupID,
		ExecutionID:       job.ExecutionID,
		LegalEntityID:     job.LegalEntityID,
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	res := &ExportResult{ExecutionID: id}
	if res.Status, err = c.WaitForExecution(ctx, id); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	if res.Status != StatusSucceeded && res.Status != StatusPartiallySucceeded {
		return res, nil
	}
	u, err := c.WaitExportedPackageURL(ctx, id)
	if err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	if res.PackageBytes, err = c.DownloadBlob(ctx, u, dst); err != nil {
		return res, fmt.Errorf("export: downloading package: %w", err)
	}
	return res, nil
}
