package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Config is a whole dmfpipe configuration: one YAML file or a folder of them.
//
// Fields of type Secret and SecretURL hold credentials: write them as ${env:NAME} or
// ${file:PATH} rather than in clear (any value may use these references). They never
// print their value. A secret that is not set fails Load, naming the variable or file,
// unless Loader.OptionalSecrets makes it a warning.
type Config struct {
	// Database is the Postgres holding job history, staging and the River queue.
	Database Database `yaml:"database"`
	// Environments are F&O environments, by name.
	Environments map[string]*Environment `yaml:"environments"`
	// Connections are places files live (sftp, azblob, local), by name.
	Connections map[string]*Connection `yaml:"connections"`
	// SMTP is the mail server for notifications; optional.
	SMTP *SMTP `yaml:"smtp"`
	// Console configures the operator web console; optional.
	Console Console `yaml:"console"`
	// Projects are the import and export projects, in file order.
	Projects []*Project `yaml:"projects"`

	// Files lists the files the config was read from, in load order.
	Files []string `yaml:"-"`
	// Warnings are the problems of SeverityWarning Load found, in file and line order:
	// with Loader.OptionalSecrets, the secrets that are not set here. They do not fail Load.
	Warnings Problems `yaml:"-"`

	positions map[string]Position
}

// Pos returns where the key at a dotted path ("projects[2].target.entity") was written,
// or a zero Position when it was not.
func (c *Config) Pos(path string) Position { return c.positions[path] }

// Database locates the Postgres database.
type Database struct {
	// URL is a libpq-style URL or keyword/value string; a secret when it holds a password
	// (postgres://app:${env:PGPASSWORD}@host/db). Required by commands that use the
	// database (serve, run, migrate); `check` does not connect.
	URL Secret `yaml:"url"`
	// MaxConns caps the connection pool of each process. Defaults to 40: a serve or run
	// process's workers need 31 (one per worker of every queue, plus River's own), and the console a few.
	MaxConns int `yaml:"max_conns"`
	// StagingRetention is how long staged rows of finished jobs are kept. Defaults to 30 days.
	StagingRetention Duration `yaml:"staging_retention"`
}

// Environment is one F&O environment.
type Environment struct {
	Name string `yaml:"-"`
	// URL is the environment root, e.g. https://contoso.operations.dynamics.com, without a
	// trailing slash (one is removed). http:// is refused unless the host is loopback.
	URL string `yaml:"url"`
	// Tenant is the Entra ID tenant (GUID or domain).
	Tenant string `yaml:"tenant"`
	// ClientID is the app registration's client id.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app registration's secret; use ${env:...} or ${file:...}.
	ClientSecret Secret `yaml:"client_secret"`
	// TokenURL overrides the token endpoint. Defaults to Entra ID v2 for Tenant
	// (https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token), or v1 when TokenVersion is "v1".
	TokenURL string `yaml:"token_url"`
	// TokenVersion is "v2" (scope=<url>/.default, the default) or "v1" (resource=<url>).
	TokenVersion string `yaml:"token_version"`
	// MaxRequestsPerMinute caps calls to this environment across the whole process. Defaults to 600.
	MaxRequestsPerMinute int `yaml:"max_requests_per_minute"`
	// Poll is the GetExecutionSummaryStatus schedule.
	Poll Poll `yaml:"poll"`

	Pos Position `yaml:"-"`
}

// Poll is a polling schedule: start at Initial, grow by 1.5x up to Max, give up after Deadline.
type Poll struct {
	Initial  Duration `yaml:"initial"`  // defaults to 5s
	Max      Duration `yaml:"max"`      // defaults to 60s
	Deadline Duration `yaml:"deadline"` // defaults to 2h
}

// Connection is a place files live.
type Connection struct {
	Name string `yaml:"-"`
	// Type is sftp, azblob or local.
	Type string `yaml:"type"`

	// local
	Root string `yaml:"root"`

	// sftp
	Host                  string `yaml:"host"`
	Port                  int    `yaml:"port"` // defaults to 22
	User                  string `yaml:"user"`
	Password              Secret `yaml:"password"`               // use ${env:...} or ${file:...}
	PrivateKey            Secret `yaml:"private_key"`            // PEM text; use ${file:...}
	PrivateKeyPassphrase  Secret `yaml:"private_key_passphrase"` // use ${env:...} or ${file:...}
	KnownHosts            string `yaml:"known_hosts"`            // path of a known_hosts file; required unless InsecureIgnoreHostKey
	HostKeyAlgorithm      string `yaml:"host_key_algorithm"`
	InsecureIgnoreHostKey bool   `yaml:"insecure_ignore_host_key"`

	// azblob: one of ConnectionString, SASURL, AccountName+AccountKey, or AccountURL alone
	// (Entra ID through the Azure SDK's default credential chain). The three secrets take
	// ${env:...} or ${file:...}.
	ConnectionString Secret `yaml:"connection_string"`
	SASURL           Secret `yaml:"sas_url"`
	AccountURL       string `yaml:"account_url"`
	AccountName      string `yaml:"account_name"`
	AccountKey       Secret `yaml:"account_key"`
	Container        string `yaml:"container"`

	Pos Position `yaml:"-"`
}

// SMTP is an outgoing mail server.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"` // defaults to 587
	Username string `yaml:"username"`
	Password Secret `yaml:"password"` // use ${env:...} or ${file:...}
	From     string `yaml:"from"`
	// TLS is "starttls" (default), "tls" (implicit) or "none" (loopback test servers only).
	TLS string `yaml:"tls"`
}

// Console configures the operator console.
type Console struct {
	// Addr is the listen address of `serve`. Defaults to 127.0.0.1:8080.
	Addr string `yaml:"addr"`
	// BaseURL is the console's public URL (http or https, no query), used in
	// notification links; its scheme sets the default of SecureCookies.
	BaseURL string `yaml:"base_url"`
	// Users are the people who sign in, each with a role. Without TrustedProxyHeader each
	// needs a PasswordHash.
	Users []*ConsoleUser `yaml:"users"`
	// APITokens let automation call the JSON API with `Authorization: Bearer <token>`.
	APITokens []*APIToken `yaml:"api_tokens"`
	// TrustedProxyHeader, when set, is the request header a reverse proxy that
	// authenticates users puts their name in (X-Forwarded-User, say): the console then
	// believes it and shows no login form; the name must be one of Users, whose role
	// applies. Set it only behind a proxy that always sets (or strips) this header, and
	// where nothing reaches the console except through that proxy: anyone else who can
	// send the header is whoever they say they are.
	TrustedProxyHeader string `yaml:"trusted_proxy_header"`
	// SessionTTL is how long a login lasts. Defaults to 12h.
	SessionTTL Duration `yaml:"session_ttl"`
	// SecureCookies marks the session cookie Secure (sent over https only). Defaults to
	// true, unless BaseURL is an http:// URL.
	SecureCookies *bool `yaml:"secure_cookies"`
}

// The roles of the console's users and API tokens: a viewer reads everything, an
// operator also fixes, sets aside, resubmits, retries and cancels jobs and pauses, resumes
// and runs projects, an admin also changes jobs in River's UI.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Roles are the console roles, from the least to the most allowed.
var Roles = []string{RoleViewer, RoleOperator, RoleAdmin}

// ConsoleUser is a person who signs in to the console.
type ConsoleUser struct {
	// Name is how the user signs in and how the audit trail names them.
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// PasswordHash is an Argon2id PHC string ($argon2id$v=19$m=...), as
	// `pipeline console hash-password` prints; required unless TrustedProxyHeader is set.
	PasswordHash string `yaml:"password_hash"`

	Pos Position `yaml:"-"`
}

// APIToken is a bearer token for the console's JSON API.
type APIToken struct {
	// Name names the token in the audit trail (as token:NAME).
	Name string `yaml:"name"`
	// Role is viewer, operator or admin.
	Role string `yaml:"role"`
	// Token is the secret itself, at least 32 characters; use ${env:...} or ${file:...}.
	Token Secret `yaml:"token"`

	Pos Position `yaml:"-"`
}

// Project is an import or export project.
type Project struct {
	Name string `yaml:"name"`
	// Kind is import or export.
	Kind        string `yaml:"kind"`
	Environment string `yaml:"environment"`
	// Schedule is a 5-field cron expression; empty means run only on demand.
	Schedule string `yaml:"schedule"`
	// Timezone is an IANA zone for Schedule. Defaults to UTC.
	Timezone string `yaml:"timezone"`
	// Paused keeps the schedule from firing (run-now still works).
	Paused bool `yaml:"paused"`
	// Mode is how the project talks to F&O: "package" (the default: the package API,
	// ImportFromPackage or ExportToPackage into a definition group) or "recurring" (a
	// recurring data job of F&O's, "Manage scheduled data jobs", through the recurring
	// integrations API: an import enqueues to it, an export dequeues from it).
	Mode string `yaml:"mode"`
	// Activity is the recurring data job's activity id, a GUID (braces optional).
	// Required with mode recurring, and only then.
	Activity string `yaml:"activity"`

	// import
	Source     *Source      `yaml:"source"`
	Format     Format       `yaml:"format"`
	Target     *Target      `yaml:"target"`
	Mapping    Mapping      `yaml:"mapping"`
	Validate   []*Rule      `yaml:"validate"`
	OnErrors   OnErrors     `yaml:"on_errors"`
	Notify     *Notify      `yaml:"notify"`
	References []*Reference `yaml:"references"`

	// Enqueue (recurring imports) is what each message carries: "package" (the default:
	// a chunk of the valid staged rows as a data package, for a recurring job that takes
	// data packages), "file" (a chunk as a CSV-Unicode file of target.entity, for a job
	// that takes files) or "source" (the source file as given, with target.entity, sent
	// once every row of it is valid). A message is refused before it is sent when it is
	// larger than F&O takes (about 32 MiB; F&O answers 413 somewhere above): lower
	// target.chunk_rows, or use package or file instead of source.
	Enqueue string `yaml:"enqueue"`

	// export
	// DefinitionGroup is the export project in F&O (data project); it must exist there.
	// Required for package exports; a recurring export's job has its own.
	DefinitionGroup string `yaml:"definition_group"`
	// LegalEntity is the company exported (dataAreaId). Required for package exports; a
	// recurring export's company is its job's (it names {company} in paths when set).
	LegalEntity string       `yaml:"legal_entity"`
	Destination *Destination `yaml:"destination"`
	// Entities tune the export of single entities, by entity name as F&O labels it
	// ("Customers V3"): their own path, their columns, or leaving them out. Entities not
	// listed are written as F&O exported them.
	Entities map[string]*ExportEntity `yaml:"entities"`
	// OnPartial says what a PartiallySucceeded export does: "deliver" (the default: its
	// files are written and the job ends partially succeeded) or "fail" (nothing is
	// written; the job fails).
	OnPartial string `yaml:"on_partial"`
	// OnEmpty says what an entity with no rows does: "header" (the default: a file with
	// the header alone, or an empty JSON array) or "skip" (no file; the manifest lists the
	// entity with 0 rows).
	OnEmpty string `yaml:"on_empty"`
	// OnNoFile (recurring exports) says what a message F&O hands out without a download
	// location does: "ack" (the default: recorded and acknowledged, so that F&O stops
	// handing it out) or "skip" (recorded and left unacknowledged: F&O hands it out again
	// after 30 minutes).
	OnNoFile string `yaml:"on_no_file"`

	Pos Position `yaml:"-"`
}

// Source is where an import project's files come from.
type Source struct {
	Connection string `yaml:"connection"`
	Path       string `yaml:"path"`
	// Pattern matches the file's path below Path: path.Match syntax per folder level plus
	// {name} captures (package ingest/pattern); {company} names the legal entity.
	// Defaults to "*".
	Pattern string `yaml:"pattern"`
	// MinAge is how long size and modification time must stay unchanged before a file is
	// taken. Defaults to 1m.
	MinAge Duration `yaml:"min_age"`
	// Archive is the folder files move to after a successful (or partial) job; empty leaves them.
	Archive string `yaml:"archive"`
	// Errors is the folder files move to after a failed job; empty leaves them.
	Errors string `yaml:"errors"`
}

// Format describes a file format.
type Format struct {
	// Type is csv, xlsx, json or ndjson. Defaults to the file extension.
	Type string `yaml:"type"`
	// csv
	Delimiter string `yaml:"delimiter"` // one character; detected when empty
	Encoding  string `yaml:"encoding"`  // utf-8, utf-16, utf-16le, utf-16be, windows-1252, iso-8859-1, iso-8859-15; detected when empty
	Header    *bool  `yaml:"header"`    // defaults to true
	SkipRows  int    `yaml:"skip_rows"`
	// xlsx
	Sheet     string `yaml:"sheet"` // name or 1-based index; defaults to the first sheet
	HeaderRow int    `yaml:"header_row"`
	// json
	Records string `yaml:"records"` // JSON pointer to the array of records, e.g. /data/items
	// csv exports
	// BOM starts the file with a byte order mark. Defaults to true for utf-16 encodings,
	// false otherwise; only utf-8 and utf-16 have one.
	BOM *bool `yaml:"bom"`
	// LineEnd is "crlf" (the default, RFC 4180) or "lf".
	LineEnd string `yaml:"line_end"`
}

// Target is where an import project's rows go in F&O.
type Target struct {
	Entity string `yaml:"entity"`
	// LegalEntity is the company (dataAreaId). May be taken from the file name instead with a
	// {company} capture in Source.Pattern.
	LegalEntity     string `yaml:"legal_entity"`
	DefinitionGroup string `yaml:"definition_group"`
	// ChunkRows is the number of rows per DMF package. Defaults to 10000.
	ChunkRows int `yaml:"chunk_rows"`
	// Lanes is the number of definition groups imported in parallel. Defaults to 1.
	Lanes int `yaml:"lanes"`
}

// Mapping is an entity's field mappings in file order.
type Mapping []*FieldMapping

// FieldMapping maps one entity field.
type FieldMapping struct {
	Field string `yaml:"-"`
	// From is a source column name, a 1-based column index ("#3"), or a JSON path (a.b.c).
	From string `yaml:"from"`
	// Const is a fixed value.
	Const *string `yaml:"const"`
	// Default is used when the mapped value is empty.
	Default *string `yaml:"default"`
	// Map translates values; Unmapped says what an unmapped value does: keep (default), default or error.
	Map      map[string]string `yaml:"map"`
	Unmapped string            `yaml:"unmapped"`
	// Transforms run in order.
	Transforms []*Transform `yaml:"transforms"`
	// Expr is an expr-lang expression over the source record and the row so far.
	Expr string `yaml:"expr"`

	Pos Position `yaml:"-"`
}

// Transform is one named transform with its arguments: "trim" or {pad_left: {width: 10, char: "0"}}.
type Transform struct {
	Name string
	// Args holds the arguments as written, for the transform package to compile.
	Args yaml.Node
	Pos  Position
}

// Rule is a validation rule on one field.
type Rule struct {
	Field     string   `yaml:"field"`
	Required  bool     `yaml:"required"`
	MaxLength int      `yaml:"max_length"`
	Min       *string  `yaml:"min"`
	Max       *string  `yaml:"max"`
	OneOf     []string `yaml:"one_of"`
	Pattern   string   `yaml:"pattern"`
	Type      string   `yaml:"type"`
	Unique    bool     `yaml:"unique"`
	Lookup    string   `yaml:"lookup"` // name of a reference list
	When      string   `yaml:"when"`   // expr-lang condition

	Pos Position `yaml:"-"`
}

// Reference is a named list of allowed values for lookup rules.
type Reference struct {
	Name   string   `yaml:"name"`
	Values []string `yaml:"values"`
	// File is a local file with one value per line (or the first CSV column).
	File string `yaml:"file"`
}

// OnErrors decides what bad rows do to a job.
type OnErrors struct {
	// MaxErrorRate is the share of invalid rows (0..1) above which the job fails before
	// anything is uploaded. Defaults to 1: row errors alone never fail a job, the invalid rows
	// wait in staging and the job ends PartiallySucceeded.
	MaxErrorRate *float64 `yaml:"max_error_rate"`
}

// Notify says who hears about a job.
type Notify struct {
	// Email lists the recipients; needs the smtp section.
	Email []string `yaml:"email"`
	// Webhook is the URL notifications are POSTed to (a Teams Workflows or Slack incoming
	// webhook). It is a secret, its path and query carry the token: write it as ${env:NAME}
	// or ${file:PATH}; it prints as its scheme and host only.
	Webhook SecretURL `yaml:"webhook"`
	// On lists the outcomes that notify: failure, partial, success. Defaults to [failure, partial].
	On []string `yaml:"on"`
}

// Destination is where an export project writes: a connection (local, sftp or azblob)
// and path templates (package exports/pathtemplate). Every file is written to a
// temporary name and renamed (on Blob: its block list committed last), so that a reader
// never sees half a file; an existing file is never replaced (the job fails instead).
type Destination struct {
	Connection string `yaml:"connection"`
	// Path names the data files, relative to the connection's root: {date} and {time}
	// (the job's start, in the project's time zone), {project}, {entity}, {execution}
	// (a package export's execution id, a recurring message's CorrelationId), {company}
	// and {part} ({part:3} pads to 3 digits). Required. It needs {entity} when several
	// entities would share a csv, json or ndjson file (xlsx takes a sheet per entity),
	// {part} when files are split, {execution} in a recurring export. The format follows
	// the extension unless format.type says otherwise.
	Path string `yaml:"path"`
	// Manifest names the manifest of each export run (JSON: every file with its rows,
	// bytes and SHA-256), written after the data files. Defaults to
	// "{project}_{execution}.manifest.json" in the folder of path (which may then not
	// hold {entity} or {part}).
	Manifest string `yaml:"manifest"`
	// RawPackage, when set, names a copy of each package as F&O produced it (a zip),
	// written before its data files; no {entity} or {part}.
	RawPackage string `yaml:"raw_package"`
	// Split cuts each entity's data into parts; needs {part} in path.
	Split Split `yaml:"split"`
	// Gzip compresses the csv, json and ndjson files; ".gz" is appended to names without it.
	Gzip bool `yaml:"gzip"`
}

// Split bounds the size of an export's data files; a part ends at the first row that
// reaches a bound. 0 is no bound.
type Split struct {
	// Rows is the most data rows a part holds; at most 1048575 for xlsx (Excel's limit,
	// the header row aside).
	Rows int `yaml:"rows"`
	// Bytes is the most bytes a part holds before compression ("200MB", "1GiB"); not for
	// xlsx.
	Bytes ByteSize `yaml:"bytes"`
}

// ExportEntity is how an export writes one entity.
type ExportEntity struct {
	Name string `yaml:"-"`
	// Path overrides destination.path for the entity.
	Path string `yaml:"path"`
	// Columns are the file's columns in order, each made with the mapping language
	// (docs/mapping.md) from the entity's fields as F&O exported them (staging names,
	// CUSTOMERACCOUNT): { Account: { from: CUSTOMERACCOUNT, transforms: [trim] } } or the
	// shorthand Account: CUSTOMERACCOUNT. Empty writes every field, named as F&O names it.
	Columns Columns `yaml:"columns"`
	// Skip leaves the entity out of the files.
	Skip bool `yaml:"skip"`

	Pos Position `yaml:"-"`
}

// Columns are an export's output columns in file order, by name as written.
type Columns []*FieldMapping

// ByteSize is a size in bytes written as 1048576, "200MB", "64KiB" or "1GB".
type ByteSize int64

// Duration is a time.Duration written as "90s", "5m", "2h" or "30d"... (days allowed).
type Duration time.Duration
