package dmf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BlobLocation is GetAzureWriteUrl's answer: where to PUT a package.
type BlobLocation struct {
	// BlobID is a GUID in braces.
	BlobID string `json:"BlobId"`
	// BlobURL is the writable SAS URL; after the upload it is ImportFromPackage's
	// packageUrl.
	BlobURL string `json:"BlobUrl"`
}

// GetAzureWriteURL asks for a writable blob. An empty uniqueFileName is replaced by
// a random GUID (the name only tracks the upload).
func (c *Client) GetAzureWriteURL(ctx context.Context, uniqueFileName string) (BlobLocation, error) {
	const op = "GetAzureWriteUrl"
	if uniqueFileName == "" {
		uniqueFileName = newGUID()
	}
	body, err := c.action(ctx, op, map[string]string{"uniqueFileName": uniqueFileName}, retryAll, c.opts.RequestTimeout)
	if err != nil {
		return BlobLocation{}, err
	}
	// The value is itself a JSON document, encoded as a string (§2.3); accept an
	// object too.
	v, err := unwrapValue(body)
	if err != nil {
		return BlobLocation{}, fmt.Errorf("%s: %w", op, err)
	}
	var doc string
	if json.Unmarshal(v, &doc) == nil {
		v = json.RawMessage(doc)
	}
	var loc BlobLocation
	if err := json.Unmarshal(v, &loc); err != nil {
		return BlobLocation{}, fmt.Errorf("%s: decoding value: %w", op, err)
	}
	if loc.BlobURL == "" {
		return BlobLocation{}, fmt.Errorf("%s: answer has no BlobUrl", op)
	}
	u, err := url.Parse(loc.BlobURL)
	if err != nil || u.Host == "" {
		return BlobLocation{}, fmt.Errorf("%s: BlobUrl is not an absolute URL", op)
	}
	if err := checkScheme(u); err != nil {
		return BlobLocation{}, fmt.Errorf("%s: %w", op, err)
	}
	return loc, nil
}

// ImportParams are ImportFromPackage's parameters (§2.2).
type ImportParams struct {
	// PackageURL is the BlobURL the package was uploaded to. Required.
	PackageURL string
	// DefinitionGroupID is the data project; F&O creates it from the manifest if it
	// does not exist. Required.
	DefinitionGroupID string
	// ExecutionID identifies the run. Empty: the client generates one with
	// NewExecutionID, so that a lost response can be looked up.
	ExecutionID string
	// Execute runs the staging-to-target step too; false stops after staging.
	Execute bool
	// Overwrite replaces the project definition with the manifest's. It must be
	// false for packages with a composite entity.
	Overwrite bool
	// LegalEntityID is the company (dataAreaId), e.g. USMF.
	LegalEntityID string
}

// ImportFromPackage starts importing an uploaded package and returns the execution
// ID. It waits up to Options.LongRequestTimeout for the answer (F&O answers after
// staging). If the answer is lost — timeout, reset connection, 5xx — it looks the
// execution up and re-sends, with the same execution ID, only if F&O has no record
// of it. Calls for one definition group are serialised within the process.
func (c *Client) ImportFromPackage(ctx context.Context, p ImportParams) (string, error) {
	if p.PackageURL == "" || p.DefinitionGroupID == "" {
		return "", errors.New("ImportFromPackage: package URL and definition group are required")
	}
	if p.ExecutionID == "" {
		p.ExecutionID = NewExecutionID(p.DefinitionGroupID)
	}
	params := map[string]any{
		"packageUrl":        p.PackageURL,
		"definitionGroupId": p.DefinitionGroupID,
		"executionId":       p.ExecutionID,
		"execute":           p.Execute,
		"overwrite":         p.Overwrite,
		"legalEntityId":     p.LegalEntityID,
	}
	return c.startExecution(ctx, "ImportFromPackage", p.DefinitionGroupID, p.ExecutionID, params)
}

// ExportParams are ExportToPackage's parameters (§2.2).
type ExportParams struct {
	// DefinitionGroupID is the export project, which must exist. Required.
	DefinitionGroupID string
	// PackageName names the produced file. Defaults to the execution ID.
	PackageName string
	// ExecutionID identifies the run. Empty: the client generates one.
	ExecutionID string
	// ReExecute re-runs an existing execution; false for a new export.
	ReExecute bool
	// LegalEntityID is the company (dataAreaId).
	LegalEntityID string
}

// ExportToPackage starts an export and returns the execution ID, with the same
// long timeout, lost-response lookup and per-group serialisation as
// ImportFromPackage. F&O may answer it only once the export has run (and has been
// seen to hang); ExportToPackageAsync answers at once.
func (c *Client) ExportToPackage(ctx context.Context, p ExportParams) (string, error) {
	return c.exportToPackage(ctx, "ExportToPackage", p)
}

// ExportToPackageAsync is ExportToPackage's asynchronous form: F&O answers as soon as the
// export is queued; poll GetExecutionSummaryStatus for its end (dmf-api.md §2.9). Older
// environments lack the action and answer 404 (IsActionNotFound).
func (c *Client) ExportToPackageAsync(ctx context.Context, p ExportParams) (string, error) {
	return c.exportToPackage(ctx, "ExportToPackageAsync", p)
}

func (c *Client) exportToPackage(ctx context.Context, op string, p ExportParams) (string, error) {
	if p.DefinitionGroupID == "" {
		return "", errors.New(op + ": definition group is required")
	}
	if p.ExecutionID == "" {
		p.ExecutionID = NewExecutionID(p.DefinitionGroupID)
	}
	if p.PackageName == "" {
		p.PackageName = p.ExecutionID
	}
	params := map[string]any{
		"definitionGroupId": p.DefinitionGroupID,
		"packageName":       p.PackageName,
		"executionId":       p.ExecutionID,
		"reExecute":         p.ReExecute,
		"legalEntityId":     p.LegalEntityID,
	}
	return c.startExecution(ctx, op, p.DefinitionGroupID, p.ExecutionID, params)
}

// IsActionNotFound reports F&O's 404 for an action the environment does not have.
func IsActionNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusNotFound
}

// startExecution sends a non-idempotent Import/ExportToPackage call. Whenever its
// answer is lost, the execution is looked up before anything is re-sent.
func (c *Client) startExecution(ctx context.Context, op, group, executionID string, params map[string]any) (string, error) {
	unlock, err := lockGroup(ctx, c.opts.BaseURL, group)
	if err != nil {
		return "", fmt.Errorf("%s: waiting for definition group %q: %w", op, group, err)
	}
	defer unlock()
	clock := c.newRetryClock()
	for attempt := 1; ; attempt++ {
		body, err := c.action(ctx, op, params, retryUnsent, c.opts.LongRequestTimeout)
		if err == nil {
			id, err := valueString(body)
			if err != nil {
				return "", fmt.Errorf("%s: %w", op, err)
			}
			if id == "" {
				id = executionID
			}
			if id != executionID {
				c.log.Warn("dmf: execution id differs from the one sent", "op", op, "sent", executionID, "got", id)
			}
			return id, nil
		}
		if !errors.Is(err, ErrResponseLost) {
			return "", err
		}
		c.log.Warn("dmf: response lost; looking the execution up before any resend",
			"op", op, "execution", executionID, "cause", err.Error())
		found, lerr := c.executionExists(ctx, group, executionID)
		if lerr != nil {
			return "", fmt.Errorf("%s: cannot tell whether execution %s started (%w): %w", op, executionID, lerr, err)
		}
		if found {
			c.log.Info("dmf: execution found after lost response; not resending", "op", op, "execution", executionID)
			return executionID, nil
		}
		wait := c.retryBackoff().Delay(attempt)
		if clock.elapsed()+wait > c.opts.RetryDeadline {
			return "", fmt.Errorf("%s: giving up after %d attempts (retry deadline %s): %w", op, attempt, c.opts.RetryDeadline, err)
		}
		c.opts.OnRetry(Retry{Op: op, Attempt: attempt, Wait: wait, Err: err})
		if err := clock.sleep(ctx, wait); err != nil {
			return "", fmt.Errorf("%s: %w", op, err)
		}
		c.log.Info("dmf: execution not found; re-sending with the same execution id", "op", op, "execution", executionID)
	}
}

// executionExists reports whether F&O has a record of the execution: a row in
// DataManagementExecutionJobDetails, or a status other than Unknown / "not found".
func (c *Client) executionExists(ctx context.Context, group, executionID string) (bool, error) {
	details, derr := c.ExecutionJobDetails(ctx, JobDetailsFilter{JobID: executionID})
	if derr == nil && len(details) > 0 {
		return true, nil
	}
	st, serr := c.GetExecutionSummaryStatus(ctx, executionID)
	switch {
	case serr == nil:
		return st != StatusUnknown, nil
	case IsExecutionNotFound(serr):
		return false, nil
	case derr == nil:
		return false, nil // the job details said "no such execution"
	}
	return false, fmt.Errorf("job details: %w; status: %w", derr, serr)
}

// JobDetailsFilter selects DataManagementExecutionJobDetails rows; set one field.
type JobDetailsFilter struct {
	JobID             string
	DefinitionGroupID string
}

// ExecutionJobDetail is a row of DataManagementExecutionJobDetails (§2.8); only the
// fields dmfpipe uses are decoded.
type ExecutionJobDetail struct {
	JobID                      string `json:"JobId"`
	DefinitionGroupID          string `json:"DefinitionGroupId"`
	EntityName                 string `json:"EntityName"`
	StagingStatus              string `json:"StagingStatus"`
	TargetStatus               string `json:"TargetStatus"`
	StagingRecordsCreatedCount int64  `json:"StagingRecordsCreatedCount"`
	TargetRecordsCreatedCount  int64  `json:"TargetRecordsCreatedCount"`
	TargetRecordsUpdatedCount  int64  `json:"TargetRecordsUpdatedCount"`
}

// ExecutionJobDetails reads DataManagementExecutionJobDetails rows by job (execution)
// ID or definition group, following server paging.
func (c *Client) ExecutionJobDetails(ctx context.Context, f JobDetailsFilter) ([]ExecutionJobDetail, error) {
	var filter string
	switch {
	case f.JobID != "":
		filter = "JobId eq " + odataString(f.JobID)
	case f.DefinitionGroupID != "":
		filter = "DefinitionGroupId eq " + odataString(f.DefinitionGroupID)
	default:
		return nil, errors.New("execution job details: a job id or definition group is required")
	}
	next := c.opts.BaseURL + "/data/DataManagementExecutionJobDetails?" +
		url.Values{"$filter": {filter}}.Encode()
	var out []ExecutionJobDetail
	for next != "" {
		var page struct {
			Value    []ExecutionJobDetail `json:"value"`
			NextLink string               `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, "DataManagementExecutionJobDetails", next, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
		next = page.NextLink
	}
	return out, nil
}

// getJSON GETs an F&O OData or metadata URL and decodes the JSON answer into v.
func (c *Client) getJSON(ctx context.Context, op, rawURL string, v any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if base, _ := url.Parse(c.opts.BaseURL); !strings.EqualFold(u.Host, base.Host) || !strings.EqualFold(u.Scheme, base.Scheme) {
		// Never follow a next link off the environment with the bearer token.
		return fmt.Errorf("%s: refusing to send the token to %s", op, redactURL(rawURL))
	}
	resp, err := c.do(ctx, &request{
		op:      op,
		method:  http.MethodGet,
		url:     rawURL,
		header:  http.Header{"Accept": {"application/json"}, "Odata-Version": {"4.0"}, "Odata-Maxversion": {"4.0"}},
		auth:    true,
		limited: true,
		policy:  retryAll,
		timeout: c.opts.RequestTimeout,
	})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return fmt.Errorf("%s: decoding response: %w", op, err)
	}
	return nil
}

// odataString quotes s as an OData string literal.
func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// GetExecutionSummaryStatus returns the execution's status. A 400 "were not found"
// (an execution not registered yet) is returned as an *HTTPError; WaitForExecution
// treats it as pending during its grace window.
func (c *Client) GetExecutionSummaryStatus(ctx context.Context, executionID string) (ExecutionStatus, error) {
	s, err := c.stringAction(ctx, "GetExecutionSummaryStatus", map[string]string{"executionId": executionID})
	if err != nil {
		return "", err
	}
	return ParseExecutionStatus(s), nil
}

// GetExportedPackageURL returns the SAS URL of an export's package, or "" while it
// is not ready.
func (c *Client) GetExportedPackageURL(ctx context.Context, executionID string) (string, error) {
	return c.stringAction(ctx, "GetExportedPackageUrl", map[string]string{"executionId": executionID})
}

// GetImportStagingErrorFileURL returns the URL of the entity's source-to-staging
// error file, or "" when there is none (§2.7).
func (c *Client) GetImportStagingErrorFileURL(ctx context.Context, executionID, entityName string) (string, error) {
	return c.stringAction(ctx, "GetImportStagingErrorFileUrl",
		map[string]string{"executionId": executionID, "entityName": entityName})
}

// GenerateImportTargetErrorKeysFile starts generating the entity's staging-to-target
// error keys file and reports whether there are such errors at all.
func (c *Client) GenerateImportTargetErrorKeysFile(ctx context.Context, executionID, entityName string) (bool, error) {
	const op = "GenerateImportTargetErrorKeysFile"
	body, err := c.action(ctx, op, map[string]string{"executionId": executionID, "entityName": entityName},
		retryAll, c.opts.RequestTimeout)
	if err != nil {
		return false, err
	}
	b, err := valueBool(body)
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	return b, nil
}

// GetImportTargetErrorKeysFileURL returns the URL of the entity's error keys file,
// or "" while it is being generated or when there are no errors.
func (c *Client) GetImportTargetErrorKeysFileURL(ctx context.Context, executionID, entityName string) (string, error) {
	return c.stringAction(ctx, "GetImportTargetErrorKeysFileUrl",
		map[string]string{"executionId": executionID, "entityName": entityName})
}

// GetMessageStatus returns a recurring message's status (§3.6).
func (c *Client) GetMessageStatus(ctx context.Context, messageID string) (MessageStatus, error) {
	s, err := c.stringAction(ctx, "GetMessageStatus", map[string]string{"messageId": messageID})
	if err != nil {
		return "", err
	}
	return ParseMessageStatus(s), nil
}

// GetExecutionIDByMessageID returns the execution behind a recurring message. Note
// the parameter's leading underscore (§2.2).
func (c *Client) GetExecutionIDByMessageID(ctx context.Context, messageID string) (string, error) {
	return c.stringAction(ctx, "GetExecutionIdByMessageId", map[string]string{"_messageId": messageID})
}

// NewExecutionID returns a unique execution ID in RIS's shape:
// <group>-<yyyy-MM-dd_HH-mm-ss>-<32 hex digits>.
func NewExecutionID(group string) string {
	return group + "-" + time.Now().UTC().Format("2006-01-02_15-04-05") + "-" + strings.ToUpper(randomHex(16))
}

func newGUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
