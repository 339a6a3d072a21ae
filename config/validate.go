package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults documented on the fields they apply to.
const (
	DefaultMaxConns             = 40
	DefaultStagingRetention     = 30 * 24 * time.Hour
	DefaultMaxRequestsPerMinute = 600
	DefaultPollInitial          = 5 * time.Second
	DefaultPollMax              = 60 * time.Second
	DefaultPollDeadline         = 2 * time.Hour
	DefaultMinAge               = time.Minute
	DefaultChunkRows            = 10000
	DefaultConsoleAddr          = "127.0.0.1:8080"
	DefaultSessionTTL           = 12 * time.Hour
	// MinAPITokenLength is the shortest console.api_tokens[].token accepted.
	MinAPITokenLength = 32
	// MaxLanes bounds target.lanes: each lane is a definition group F&O imports in parallel.
	MaxLanes = 16
)

func (c *Config) applyDefaults() {
	if c.Database.MaxConns == 0 {
		c.Database.MaxConns = DefaultMaxConns
	}
	if c.Database.StagingRetention == 0 {
		c.Database.StagingRetention = Duration(DefaultStagingRetention)
	}
	for _, e := range c.Environments {
		e.URL = strings.TrimRight(e.URL, "/")
		if e.TokenVersion == "" {
			e.TokenVersion = "v2"
		}
		if e.MaxRequestsPerMinute == 0 {
			e.MaxRequestsPerMinute = DefaultMaxRequestsPerMinute
		}
		setDuration(&e.Poll.Initial, DefaultPollInitial)
		setDuration(&e.Poll.Max, DefaultPollMax)
		setDuration(&e.Poll.Deadline, DefaultPollDeadline)
	}
	for _, cn := range c.Connections {
		if cn.Type == "sftp" && cn.Port == 0 {
			cn.Port = 22
		}
		cn.Root = relativeTo(cn.Pos.File, cn.Root)
		cn.KnownHosts = relativeTo(cn.Pos.File, cn.KnownHosts)
	}
	if c.SMTP != nil {
		if c.SMTP.Port == 0 {
			c.SMTP.Port = 587
		}
		if c.SMTP.TLS == "" {
			c.SMTP.TLS = "starttls"
		}
	}
	if c.Console.Addr == "" {
		c.Console.Addr = DefaultConsoleAddr
	}
	setDuration(&c.Console.SessionTTL, DefaultSessionTTL)
	if c.Console.SecureCookies == nil {
		secure := !strings.HasPrefix(strings.ToLower(c.Console.BaseURL), "http://")
		c.Console.SecureCookies = &secure
	}
	for _, p := range c.Projects {
		if p.Timezone == "" {
			p.Timezone = "UTC"
		}
		if p.Source != nil {
			if p.Source.Pattern == "" {
				p.Source.Pattern = "*"
			}
			setDuration(&p.Source.MinAge, DefaultMinAge)
		}
		for _, r := range p.References {
			r.File = relativeTo(p.Pos.File, r.File)
		}
		if p.Format.Header == nil {
			header := true
			p.Format.Header = &header
		}
		if p.Format.HeaderRow == 0 {
			p.Format.HeaderRow = 1
		}
		if p.Target != nil {
			if p.Target.ChunkRows == 0 {
				p.Target.ChunkRows = DefaultChunkRows
			}
			if p.Target.Lanes == 0 {
				p.Target.Lanes = 1
			}
		}
		if p.OnErrors.MaxErrorRate == nil {
			rate := 1.0
			p.OnErrors.MaxErrorRate = &rate
		}
		if p.Notify != nil && len(p.Notify.On) == 0 {
			p.Notify.On = []string{"failure", "partial"}
		}
		c.applyExportDefaults(p)
	}
}

// relativeTo resolves a local path written in a config file against that file's folder.
func relativeTo(configFile, p string) string {
	if p == "" || filepath.IsAbs(p) || configFile == "" {
		return p
	}
	return filepath.Join(filepath.Dir(configFile), p)
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

// checker reports problems at the position of a key path, or at a fallback position when
// the key was not written (a missing required key is reported where its parent stands).
type checker struct {
	c          *Config
	p          *Problems
	unresolved map[string]bool
}

// missing reports whether a required value at keyPath is absent, unless its ${...}
// reference already failed (and was reported).
func (k checker) missing(keyPath string, empty bool) bool { return empty && !k.unresolved[keyPath] }

func (k checker) at(keyPath string, fallback Position, format string, args ...any) {
	pos, ok := k.c.positions[keyPath]
	if !ok {
		pos = fallback
	}
	k.p.add(pos.File, pos.Line, fmt.Sprintf(format, args...))
}

func (c *Config) validate(p *Problems, unresolved map[string]bool) {
	k := checker{c: c, p: p, unresolved: unresolved}
	top := Position{}
	if len(c.Files) > 0 {
		top = Position{File: c.Files[0], Line: 1}
	}
	for name, e := range c.Environments {
		k.environment("environments."+name, e)
	}
	for name, cn := range c.Connections {
		k.connection("connections."+name, cn)
	}
	if c.SMTP != nil {
		k.smtp(c.SMTP)
	}
	k.console(&c.Console)
	names := map[string]string{}
	jobs := map[string]string{} // recurring data jobs by environment/activity
	for i, pr := range c.Projects {
		key := fmt.Sprintf("projects[%d]", i)
		if pr.Name != "" {
			if prev, ok := names[pr.Name]; ok {
				k.at(key+".name", pr.Pos, "project %q is already defined at %s", pr.Name, c.positions[prev+".name"])
			}
			names[pr.Name] = key
		}
		k.project(key, pr, jobs)
	}
	if len(c.Projects) == 0 && len(c.Environments) == 0 {
		k.at("", top, "config defines no environments and no projects")
	}
}

func (k checker) environment(key string, e *Environment) {
	k.endpointURL(key+".url", e.Pos, "environment "+e.Name+": url", e.URL, true)
	if k.missing(key+".tenant", e.Tenant == "") {
		k.at(key, e.Pos, "environment %s: tenant is required", e.Name)
	}
	if k.missing(key+".client_id", e.ClientID == "") {
		k.at(key, e.Pos, "environment %s: client_id is required", e.Name)
	}
	if k.missing(key+".client_secret", e.ClientSecret.IsZero()) {
		k.at(key, e.Pos, "environment %s: client_secret is required (use ${env:NAME} or ${file:PATH})", e.Name)
	}
	if e.TokenURL != "" {
		k.endpointURL(key+".token_url", e.Pos, "environment "+e.Name+": token_url", e.TokenURL, false)
	}
	if e.TokenVersion != "v1" && e.TokenVersion != "v2" {
		k.at(key+".token_version", e.Pos, "environment %s: token_version must be v1 or v2, not %q", e.Name, e.TokenVersion)
	}
	if e.MaxRequestsPerMinute < 0 {
		k.at(key+".max_requests_per_minute", e.Pos, "environment %s: max_requests_per_minute must not be negative", e.Name)
	}
	if e.Poll.Initial > e.Poll.Max {
		k.at(key+".poll", e.Pos, "environment %s: poll.initial (%s) is longer than poll.max (%s)", e.Name, e.Poll.Initial, e.Poll.Max)
	}
	if e.Poll.Deadline < e.Poll.Initial {
		k.at(key+".poll", e.Pos, "environment %s: poll.deadline (%s) is shorter than poll.initial (%s)", e.Name, e.Poll.Deadline, e.Poll.Initial)
	}
}

// endpointURL checks an F&O or token URL: absolute, https, or http on a loopback host.
func (k checker) endpointURL(key string, at Position, name, raw string, required bool) {
	if raw == "" {
		if required && !k.unresolved[key] {
			k.at(key, at, "%s is required", name)
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		k.at(key, at, "%s %q is not an absolute http(s) URL", name, raw)
		return
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		k.at(key, at, "%s %q uses http:// on a host that is not loopback; F&O needs https://", name, raw)
	}
	if u.User != nil {
		k.at(key, at, "%s must not carry credentials", name)
	}
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connectionFields lists the keys that belong to each connection type.
var connectionFields = map[string][]string{
	"local":  {"root"},
	"sftp":   {"host", "port", "user", "password", "private_key", "private_key_passphrase", "known_hosts", "host_key_algorithm", "insecure_ignore_host_key"},
	"azblob": {"connection_string", "sas_url", "account_url", "account_name", "account_key", "container"},
}

func (k checker) connection(key string, cn *Connection) {
	fields, ok := connectionFields[cn.Type]
	if !ok {
		k.at(key+".type", cn.Pos, "connection %s: type must be sftp, azblob or local, not %q", cn.Name, cn.Type)
		return
	}
	for typ, other := range connectionFields {
		if typ == cn.Type {
			continue
		}
		for _, f := range other {
			if _, set := k.c.positions[key+"."+f]; set && !slices.Contains(fields, f) {
				k.at(key+"."+f, cn.Pos, "connection %s: %s is not used by %s connections", cn.Name, f, cn.Type)
			}
		}
	}
	switch cn.Type {
	case "local":
		if cn.Root == "" {
			k.at(key, cn.Pos, "connection %s: root is required for local connections", cn.Name)
		}
	case "sftp":
		if k.missing(key+".host", cn.Host == "") {
			k.at(key, cn.Pos, "connection %s: host is required for sftp connections", cn.Name)
		}
		if k.missing(key+".user", cn.User == "") {
			k.at(key, cn.Pos, "connection %s: user is required for sftp connections", cn.Name)
		}
		if k.missing(key+".password", cn.Password.IsZero()) && k.missing(key+".private_key", cn.PrivateKey.IsZero()) {
			k.at(key, cn.Pos, "connection %s: sftp needs password or private_key", cn.Name)
		}
		if cn.KnownHosts == "" && !cn.InsecureIgnoreHostKey {
			k.at(key, cn.Pos, "connection %s: known_hosts is required (or insecure_ignore_host_key: true, which trusts any server)", cn.Name)
		}
		if cn.Port < 1 || cn.Port > 65535 {
			k.at(key+".port", cn.Pos, "connection %s: port %d is out of range", cn.Name, cn.Port)
		}
	case "azblob":
		auth := 0
		// A secret that is not set here still counts as the one chosen.
		sasURL := !k.missing(key+".sas_url", cn.SASURL.IsZero())
		for _, set := range []bool{!k.missing(key+".connection_string", cn.ConnectionString.IsZero()), sasURL, cn.AccountURL != "" || cn.AccountName != ""} {
			if set {
				auth++
			}
		}
		if auth != 1 {
			k.at(key, cn.Pos, "connection %s: azblob needs exactly one of connection_string, sas_url, account_name with account_key, or account_url (Entra ID)", cn.Name)
		}
		if cn.AccountName != "" && k.missing(key+".account_key", cn.AccountKey.IsZero()) {
			k.at(key+".account_name", cn.Pos, "connection %s: account_name needs account_key", cn.Name)
		}
		if cn.Container == "" && !sasURL {
			k.at(key, cn.Pos, "connection %s: container is required for azblob connections", cn.Name)
		}
	}
}

func (k checker) smtp(s *SMTP) {
	if s.Host == "" {
		k.at("smtp", Position{}, "smtp: host is required")
	}
	if s.From == "" {
		k.at("smtp", Position{}, "smtp: from is required")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		k.at("smtp.from", Position{}, "smtp: from %q is not an email address", s.From)
	}
	switch s.TLS {
	case "starttls", "tls":
	case "none":
		if !IsLoopback(s.Host) {
			k.at("smtp.tls", Position{}, "smtp: tls: none is only allowed for a loopback host")
		}
	default:
		k.at("smtp.tls", Position{}, "smtp: tls must be starttls, tls or none, not %q", s.TLS)
	}
}

// projectName keeps project names usable in execution ids, file names and URLs.
var projectName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a project schedule in its time zone.
func ParseSchedule(schedule, timezone string) (cron.Schedule, error) {
	if strings.HasPrefix(schedule, "CRON_TZ=") || strings.HasPrefix(schedule, "TZ=") {
		return nil, fmt.Errorf("write the time zone in timezone:, not in the schedule")
	}
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", timezone)
	}
	s, err := cronParser.Parse("CRON_TZ=" + loc.String() + " " + schedule)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %v", schedule, strings.TrimPrefix(err.Error(), "failed to parse int from "))
	}
	return s, nil
}

func (k checker) project(key string, p *Project, jobs map[string]string) {
	label := p.Name
	if label == "" {
		k.at(key, p.Pos, "project: name is required")
		label = key
	} else if !projectName.MatchString(p.Name) {
		k.at(key+".name", p.Pos, "project %q: names use letters, digits, '.', '_' and '-' (at most 63)", p.Name)
	}
	if p.Environment == "" {
		k.at(key, p.Pos, "project %s: environment is required", label)
	} else if _, ok := k.c.Environments[p.Environment]; !ok {
		k.at(key+".environment", p.Pos, "project %s: environment %q is not defined%s", label, p.Environment, known(k.c.Environments))
	}
	if _, err := time.LoadLocation(p.Timezone); err != nil {
		k.at(key+".timezone", p.Pos, "project %s: unknown time zone %q", label, p.Timezone)
	} else if p.Schedule != "" {
		if _, err := ParseSchedule(p.Schedule, p.Timezone); err != nil {
			k.at(key+".schedule", p.Pos, "project %s: %v", label, err)
		}
	}
	k.format(key+".format", p, label)
	k.formatKeys(key, p, label)
	k.mode(key, p, label, jobs)
	switch p.Kind {
	case "import":
		k.importProject(key, p, label)
	case "export":
		k.exportProject(key, p, label)
	default:
		k.at(key+".kind", p.Pos, "project %s: kind must be import or export, not %q", label, p.Kind)
	}
}

var formatTypes = []string{"", "csv", "xlsx", "json", "ndjson"}
var encodings = []string{"", "utf-8", "utf-16", "utf-16le", "utf-16be", "windows-1252", "iso-8859-1", "iso-8859-15"}

func (k checker) format(key string, p *Project, label string) {
	f := p.Format
	if !slices.Contains(formatTypes, f.Type) {
		k.at(key+".type", p.Pos, "project %s: format type must be csv, xlsx, json or ndjson, not %q", label, f.Type)
	}
	if len([]rune(f.Delimiter)) > 1 {
		k.at(key+".delimiter", p.Pos, "project %s: delimiter must be one character, not %q", label, f.Delimiter)
	}
	if !slices.Contains(encodings, strings.ToLower(f.Encoding)) {
		k.at(key+".encoding", p.Pos, "project %s: unknown encoding %q (use %s)", label, f.Encoding, strings.Join(encodings[1:], ", "))
	}
	if f.SkipRows < 0 {
		k.at(key+".skip_rows", p.Pos, "project %s: skip_rows must not be negative", label)
	}
	if f.HeaderRow < 1 {
		k.at(key+".header_row", p.Pos, "project %s: header_row counts from 1", label)
	}
	if f.Records != "" && !strings.HasPrefix(f.Records, "/") {
		k.at(key+".records", p.Pos, "project %s: records is a JSON pointer and starts with /, e.g. /data/items", label)
	}
}

func (k checker) importProject(key string, p *Project, label string) {
	for _, f := range []string{"definition_group", "legal_entity", "destination"} {
		if _, set := k.c.positions[key+"."+f]; set {
			k.at(key+"."+f, p.Pos, "project %s: %s belongs to export projects (imports set target.%s)", label, f, f)
		}
	}
	for _, f := range []string{"entities", "on_partial", "on_empty", "on_no_file"} {
		if _, set := k.c.positions[key+"."+f]; set {
			k.at(key+"."+f, p.Pos, "project %s: %s belongs to export projects", label, f)
		}
	}
	if s := p.Source; s == nil {
		k.at(key, p.Pos, "project %s: source is required for imports", label)
	} else {
		k.connectionRef(key+".source.connection", p.Pos, label, s.Connection)
		k.sourcePattern(key, s, p.Pos, label)
	}
	if t := p.Target; t == nil {
		k.at(key, p.Pos, "project %s: target is required for imports", label)
	} else {
		if t.Entity == "" {
			k.at(key+".target", p.Pos, "project %s: target.entity is required", label)
		}
		if t.DefinitionGroup == "" && !p.Recurring() {
			k.at(key+".target", p.Pos, "project %s: target.definition_group is required", label)
		}
		if t.LegalEntity == "" && !capturesCompany(p.Source) {
			k.at(key+".target", p.Pos, "project %s: target.legal_entity is required (or capture {company} in source.pattern)", label)
		}
		if t.ChunkRows < 1 {
			k.at(key+".target.chunk_rows", p.Pos, "project %s: chunk_rows must be positive", label)
		}
		if t.Lanes < 1 || t.Lanes > MaxLanes {
			k.at(key+".target.lanes", p.Pos, "project %s: lanes must be between 1 and %d", label, MaxLanes)
		}
	}
	if len(p.Mapping) == 0 {
		k.at(key, p.Pos, "project %s: mapping is required for imports", label)
	}
	for _, fm := range p.Mapping {
		k.fieldMapping(key+".mapping."+fm.Field, fm, label)
	}
	refs := map[string]bool{}
	for _, r := range p.References {
		if r.Name == "" || (len(r.Values) == 0) == (r.File == "") {
			k.at(key+".references", p.Pos, "project %s: each reference needs a name and either values or file", label)
		}
		refs[r.Name] = true
	}
	for i, r := range p.Validate {
		rk := fmt.Sprintf("%s.validate[%d]", key, i)
		if r.Field == "" {
			k.at(rk, r.Pos, "project %s: validation rule without field", label)
		}
		if r.Lookup != "" && !refs[r.Lookup] {
			k.at(rk+".lookup", r.Pos, "project %s: lookup %q names no reference list", label, r.Lookup)
		}
		if r.Pattern != "" {
			if _, err := regexp.Compile(r.Pattern); err != nil {
				k.at(rk+".pattern", r.Pos, "project %s: invalid pattern: %v", label, err)
			}
		}
	}
	if rate := *p.OnErrors.MaxErrorRate; rate < 0 || rate > 1 {
		k.at(key+".on_errors.max_error_rate", p.Pos, "project %s: max_error_rate is a share between 0 and 1, not %g", label, rate)
	}
	k.notify(key+".notify", p, label)
}

func (k checker) fieldMapping(key string, fm *FieldMapping, label string) {
	sources := 0
	for _, set := range []bool{fm.From != "", fm.Const != nil, fm.Expr != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		k.at(key, fm.Pos, "project %s: field %s: use one of from, const and expr", label, fm.Field)
	}
	if sources == 0 && fm.Default == nil {
		k.at(key, fm.Pos, "project %s: field %s: needs from, const, expr or default", label, fm.Field)
	}
	switch fm.Unmapped {
	case "", "keep", "error":
	case "default":
		if fm.Default == nil {
			k.at(key+".unmapped", fm.Pos, "project %s: field %s: unmapped: default needs a default", label, fm.Field)
		}
	default:
		k.at(key+".unmapped", fm.Pos, "project %s: field %s: unmapped must be keep, default or error, not %q", label, fm.Field, fm.Unmapped)
	}
	for _, t := range fm.Transforms {
		if t.Name == "" {
			k.at(key, t.Pos, "project %s: field %s: transform without a name", label, fm.Field)
		}
	}
}

var notifyOutcomes = []string{"failure", "partial", "success"}

func (k checker) notify(key string, p *Project, label string) {
	n := p.Notify
	if n == nil {
		return
	}
	for _, addr := range n.Email {
		if _, err := mail.ParseAddress(addr); err != nil {
			k.at(key+".email", p.Pos, "project %s: %q is not an email address", label, addr)
		}
	}
	if len(n.Email) > 0 && k.c.SMTP == nil {
		k.at(key+".email", p.Pos, "project %s: notify.email needs an smtp section", label)
	}
	if !n.Webhook.IsZero() {
		// The URL carries the webhook's token: the message must not repeat it.
		if u, err := url.Parse(n.Webhook.Value()); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			k.at(key+".webhook", p.Pos, "project %s: webhook is not an absolute http(s) URL", label)
		}
	}
	for _, on := range n.On {
		if !slices.Contains(notifyOutcomes, on) {
			k.at(key+".on", p.Pos, "project %s: notify.on takes failure, partial and success, not %q", label, on)
		}
	}
}

func (k checker) connectionRef(key string, at Position, label, name string) {
	if name == "" {
		k.at(key, at, "project %s: connection is required", label)
		return
	}
	if _, ok := k.c.Connections[name]; !ok {
		k.at(key, at, "project %s: connection %q is not defined%s", label, name, known(k.c.Connections))
	}
}

// known lists the defined names for a "not defined" message.
func known[T any](m map[string]T) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}
