package exports

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/dmfpipe/dmfpipe/jobhistory"
)

// Manifest describes the files of one export run (a package export's execution, or a
// recurring message): written as JSON after its data files, so that a reader that waits
// for the manifest finds every file it lists complete, and can check each by its
// SHA-256. Its content depends only on the run, not on when it was written: a manifest
// written again after a crash is identical.
type Manifest struct {
	Project string `json:"project"`
	Job     int64  `json:"job"`
	// Execution is the DMF execution id of a package export; CorrelationID the message
	// of a recurring export.
	Execution     string `json:"execution,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// Status is F&O's: Succeeded, or PartiallySucceeded (some records or entities had
	// errors in F&O; the files hold what F&O exported).
	Status          string `json:"status"`
	DefinitionGroup string `json:"definition_group,omitempty"`
	LegalEntity     string `json:"legal_entity,omitempty"`
	Format          string `json:"format"`
	// ExportedAt is when the job was created ({date} and {time} of the file names).
	ExportedAt time.Time        `json:"exported_at"`
	Entities   []ManifestEntity `json:"entities"`
	Files      []ManifestFile   `json:"files"`
	// RawPackage is the copy of the package, when the project keeps one.
	RawPackage *ManifestFile `json:"raw_package,omitempty"`
}

// ManifestEntity is one entity of the package.
type ManifestEntity struct {
	Entity string `json:"entity"`
	Rows   int64  `json:"rows"`
	// Skipped says why the entity has no file: "empty" (no rows, on_empty: skip) or
	// "configured" (entities.<name>.skip).
	Skipped string `json:"skipped,omitempty"`
}

// ManifestFile is one file written.
type ManifestFile struct {
	Path   string `json:"path"`
	Entity string `json:"entity,omitempty"`
	Part   int    `json:"part,omitempty"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// manifestFile is a recorded file as the manifest lists it.
func manifestFile(f jobhistory.ExportFile) ManifestFile {
	return ManifestFile{Path: f.Path, Entity: f.Entity, Part: f.Part, Rows: f.Rows, Bytes: f.Bytes, SHA256: hex.EncodeToString(f.SHA256)}
}

// Encode is the manifest as written: indented JSON ending in a line feed.
func (m *Manifest) Encode() ([]byte, error) {
	if m.Entities == nil {
		m.Entities = []ManifestEntity{}
	}
	if m.Files == nil {
		m.Files = []ManifestFile{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
