package emulator

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dmfpipe/dmfpipe/dmf/catalog"
)

// Defaults of Config.
const (
	DefaultTenant       = "dmfpipe-emulator-tenant"
	DefaultClientID     = "dmfpipe-emulator"
	DefaultClientSecret = "dmfpipe-emulator-secret"
	DefaultLegalEntity  = "USMF"
	DefaultTokenTTL     = 3599 * time.Second
	DefaultEnqueueLimit = 32 << 20
	DefaultSASLifetime  = time.Hour

	// blobAccount is the storage account of the emulator's blob endpoint; the container is
	// always dmf, as in F&O.
	blobAccount = "devstoreaccount1"
	// maxErrorsPerExecution caps the GetExecutionErrors entries kept per execution.
	maxErrorsPerExecution = 100_000
	// maxViolations caps the protocol violations kept in Stats.
	maxViolations = 1000
	// recurringInvisibility is how long a dequeued, unacknowledged message stays hidden.
	recurringInvisibility = 30 * time.Minute
)

// Config configures an Emulator. Every field has a usable zero value.
type Config struct {
	// Tenant, ClientID and ClientSecret are the only accepted credentials. Default to
	// DefaultTenant, DefaultClientID and DefaultClientSecret.
	Tenant, ClientID, ClientSecret string
	// Catalog is the entity catalog. Defaults to catalog.Default().
	Catalog *catalog.Catalog
	// TokenTTL is the lifetime of issued tokens. Defaults to 3599s.
	TokenTTL time.Duration
	// ExecutionDelay is spent twice per execution: NotRun before Executing, and Executing
	// before the terminal status. Defaults to 0 (executions still run asynchronously).
	ExecutionDelay time.Duration
	// Faults are injected failures; switch them at run time with SetFaults.
	Faults Faults
	// Quirks switch on documented variants of F&O's responses.
	Quirks Quirks
	// EnqueueLimit is the largest accepted recurring enqueue body; larger ones get 413.
	// Defaults to 32 MiB.
	EnqueueLimit int64
	// DefaultLegalEntity is used when a call leaves legalEntityId or company empty.
	// Defaults to USMF.
	DefaultLegalEntity string
	// SASLifetime is how long SAS URLs handed out stay valid. Defaults to 1h.
	SASLifetime time.Duration
	// Now is the clock for token expiry, SAS expiry, recurring invisibility and IDs.
	// Defaults to time.Now.
	Now func() time.Time
	// RandSeed seeds fault injection and the staging RecIds of GetExecutionErrors (where
	// each staging table's sequence starts, how rows are bundled and where its gaps
	// fall); 0 picks a random seed.
	RandSeed uint64
	// Logger receives execution and request events. Defaults to a discarding logger.
	Logger *slog.Logger
	// VisibilityTimeout is how long a dequeued, unacknowledged recurring message stays
	// hidden before a dequeue hands it out again. Defaults to 30 minutes, as in F&O.
	VisibilityTimeout time.Duration
	// MinStatusInterval, when set, makes two GetExecutionSummaryStatus calls for one
	// execution closer together than it a protocol violation: a client should keep to
	// its poll schedule (dmf-api.md §2.9), across restarts too. F&O does not refuse
	// them; tests use it to catch a client that polls too eagerly.
	MinStatusInterval time.Duration
}

// Faults are failures the emulator injects. Rates are shares between 0 and 1.
type Faults struct {
	// Rate429 is the share of F&O requests (OData, /api/connector, /metadata; not the
	// token or blob endpoints) answered 429 Too Many Requests.
	Rate429 float64
	// RetryAfter is sent with every 429, in whole seconds (rounded up); 0 omits the header.
	RetryAfter time.Duration
	// RetryAfterHTTPDate sends Retry-After as an HTTP date instead of seconds.
	RetryAfterHTTPDate bool
	// Rate5xxOnStatus is the share of GetExecutionSummaryStatus calls answered 500 or 503.
	Rate5xxOnStatus float64
	// Rate5xx is the share of any F&O request answered 503.
	Rate5xx float64
	// NotFoundAfterImport makes the first N status polls of each new execution answer
	// 400 "... were not found".
	NotFoundAfterImport int
	// StuckExecuting keeps new executions in Executing until they are canceled.
	StuckExecuting bool
	// FailConcurrentImports fails (DMF2025-style) an ImportFromPackage that arrives while
	// another import of the same definition group is still running, as F&O does without
	// "Enhanced parallel package import". Without it, such imports are queued.
	FailConcurrentImports bool
	// Latency is added to every response except the admin API.
	Latency time.Duration
	// PartialExports makes exports end PartiallySucceeded: the package is built, and
	// GetExecutionErrors reports a failed record of each entity.
	PartialExports bool
	// ExportURLNotReady makes the first N GetExportedPackageUrl calls after an export has
	// ended answer that the package is not ready, in turn "", "''" and a zero GUID (the
	// forms clients meet), before the URL.
	ExportURLNotReady int
	// DequeueNoFile makes the next N recurring export messages carry no file: dequeue
	// answers them with a null DownloadLocation and IsDownLoadFileExist false.
	DequeueNoFile int
	// AckFailures makes the next N acks answer 500 without acknowledging.
	AckFailures int
}

// Quirks are variants of F&O's documented behaviour that real clients meet.
type Quirks struct {
	// NestedValue makes ExportToPackage* and GetExportedPackageUrl answer
	// {"value":{"value":...}} as the Learn page shows.
	NestedValue bool `json:"nested_value"`
	// RISStatusSpelling makes GetMessageStatus answer PreProcessing and
	// PostProcessingError instead of Preprocessing and PostProcessingFailed.
	RISStatusSpelling bool `json:"ris_status_spelling"`
	// UnescapedErrors makes GetExecutionErrors embed error messages without JSON
	// escaping, so quotes and line breaks in them break strict parsers.
	UnescapedErrors bool `json:"unescaped_errors"`
	// HTTPDownloadLocation makes dequeue answer DownloadLocation as http://host:80/...,
	// as production load balancers do.
	HTTPDownloadLocation bool `json:"http_download_location"`
	// LenientUTF8 accepts UTF-8 CSV-Unicode data files (F&O rejects them).
	LenientUTF8 bool `json:"lenient_utf8"`
}

// Stats counts what the emulator saw.
type Stats struct {
	// Inserts and Updates count target rows written; an Update is an upsert of a key that
	// already existed (a duplicate import).
	Inserts int64 `json:"inserts"`
	Updates int64 `json:"updates"`
	// ImportCalls counts ImportFromPackage and ImportFromPackageAsync calls.
	ImportCalls int64 `json:"import_calls"`
	// ExportCalls counts ExportToPackage* and ExportFromPackage calls.
	ExportCalls int64 `json:"export_calls"`
	// Executions counts executions created (imports, exports and recurring messages).
	Executions int64 `json:"executions"`
	// Enqueued, Dequeued and Acked count recurring messages.
	Enqueued int64 `json:"enqueued"`
	Dequeued int64 `json:"dequeued"`
	Acked    int64 `json:"acked"`
	// Throttled counts 429 answers; Faulted counts injected 5xx answers.
	Throttled int64 `json:"throttled"`
	Faulted   int64 `json:"faulted"`
	// Unauthorized counts 401 answers.
	Unauthorized int64 `json:"unauthorized"`
	// Requests counts requests per action or endpoint (e.g. "GetAzureWriteUrl",
	// "token.v2", "blob.PutBlob", "connector.enqueue").
	Requests map[string]int64 `json:"requests"`
	// ProtocolViolations describes client behaviour that breaks dmf-api.md, e.g. a
	// bearer token sent to a SAS URL. The first 1000 are kept.
	ProtocolViolations []string `json:"protocol_violations"`
}

// Emulator is a local F&O DMF endpoint. It is an http.Handler; see the package doc.
type Emulator struct {
	cfg     Config
	cat     *catalog.Catalog
	log     *slog.Logger
	now     func() time.Time
	sasKey  []byte
	faults  atomic.Pointer[Faults]
	ctx     context.Context // canceled by Close; stops waiting executions
	closeFn context.CancelFunc

	randMu sync.Mutex
	rnd    *mrand.Rand

	blobs  *blobStore
	rows   *rowStore
	recIDs *recIDSequences

	mu            sync.Mutex
	tokens        map[string]time.Time
	executions    map[string]*execution
	execOrder     []*execution
	groups        map[string]*defGroup
	groupLocks    map[string]*sync.Mutex
	activeStaging map[string]int // imports per definition group not yet staged
	recurringJobs map[string]*recurringJob
	messages      map[string]*message
	messageOrder  []*message
	requests      map[string]int64
	violations    []string
	lastStatus    map[string]time.Time // execution id → the last status call, for MinStatusInterval

	inserts, updates, importCalls, exportCalls, executionsN atomic.Int64
	enqueued, dequeued, acked                               atomic.Int64
	throttled, faulted, unauthorized                        atomic.Int64
}

// New builds an Emulator. It starts nothing; executions run in goroutines spawned by
// requests. Call Close to stop executions that wait (StuckExecuting, ExecutionDelay).
func New(cfg Config) *Emulator {
	if cfg.Tenant == "" {
		cfg.Tenant = DefaultTenant
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = DefaultClientSecret
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Default()
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.EnqueueLimit <= 0 {
		cfg.EnqueueLimit = DefaultEnqueueLimit
	}
	if cfg.DefaultLegalEntity == "" {
		cfg.DefaultLegalEntity = DefaultLegalEntity
	}
	cfg.DefaultLegalEntity = strings.ToUpper(cfg.DefaultLegalEntity)
	if cfg.SASLifetime <= 0 {
		cfg.SASLifetime = DefaultSASLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VisibilityTimeout <= 0 {
		cfg.VisibilityTimeout = recurringInvisibility
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	seed := cfg.RandSeed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ctx, cancel := context.WithCancel(context.Background())
	e := &Emulator{
		cfg:           cfg,
		cat:           cfg.Catalog,
		log:           cfg.Logger,
		now:           cfg.Now,
		sasKey:        key,
		ctx:           ctx,
		closeFn:       cancel,
		rnd:           mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		blobs:         newBlobStore(),
		rows:          newRowStore(),
		recIDs:        newRecIDSequences(seed),
		tokens:        map[string]time.Time{},
		executions:    map[string]*execution{},
		groups:        map[string]*defGroup{},
		groupLocks:    map[string]*sync.Mutex{},
		activeStaging: map[string]int{},
		recurringJobs: map[string]*recurringJob{},
		messages:      map[string]*message{},
		requests:      map[string]int64{},
		lastStatus:    map[string]time.Time{},
	}
	f := cfg.Faults
	e.faults.Store(&f)
	return e
}

// Close stops executions that are waiting (stuck or delayed); they end Canceled.
// The emulator keeps answering requests.
func (e *Emulator) Close() { e.closeFn() }

// SetFaults replaces the injected faults. Safe to call while serving.
func (e *Emulator) SetFaults(f Faults) { e.faults.Store(&f) }

// CurrentFaults returns the faults in force.
func (e *Emulator) CurrentFaults() Faults { return *e.faults.Load() }

// takeFault consumes one of the counted faults pick names (DequeueNoFile, AckFailures)
// and reports whether one was left.
func (e *Emulator) takeFault(pick func(*Faults) *int) bool {
	for {
		cur := e.faults.Load()
		if *pick(cur) <= 0 {
			return false
		}
		next := *cur
		*pick(&next)--
		if e.faults.CompareAndSwap(cur, &next) {
			return true
		}
	}
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() Stats {
	e.mu.Lock()
	reqs := make(map[string]int64, len(e.requests))
	for k, v := range e.requests {
		reqs[k] = v
	}
	violations := slices.Clone(e.violations)
	e.mu.Unlock()
	return Stats{
		Inserts:            e.inserts.Load(),
		Updates:            e.updates.Load(),
		ImportCalls:        e.importCalls.Load(),
		ExportCalls:        e.exportCalls.Load(),
		Executions:         e.executionsN.Load(),
		Enqueued:           e.enqueued.Load(),
		Dequeued:           e.dequeued.Load(),
		Acked:              e.acked.Load(),
		Throttled:          e.throttled.Load(),
		Faulted:            e.faulted.Load(),
		Unauthorized:       e.unauthorized.Load(),
		Requests:           reqs,
		ProtocolViolations: violations,
	}
}

func (e *Emulator) countRequest(name string) {
	e.mu.Lock()
	e.requests[name]++
	e.mu.Unlock()
}

// violation records client behaviour that breaks the protocol.
func (e *Emulator) violation(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.log.Warn("protocol violation", "violation", msg)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) < maxViolations {
		e.violations = append(e.violations, msg)
	}
}

// sleep waits d unless Close is called first; it reports whether to go on.
func (e *Emulator) sleep(d time.Duration) bool {
	if d <= 0 {
		return e.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}

// chance reports true with probability p.
func (e *Emulator) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	e.randMu.Lock()
	defer e.randMu.Unlock()
	return e.rnd.Float64() < p
}

// baseURL is the emulator's own root as the caller reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ServeHTTP routes a request to the token, blob, OData, recurring, metadata or admin
// endpoints.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/_emulator/") {
		e.serveAdmin(w, r)
		return
	}
	if d := e.CurrentFaults().Latency; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case strings.HasPrefix(path, "/"+blobAccount+"/"):
		e.serveBlob(w, r)
	case strings.HasSuffix(path, "/oauth2/v2.0/token"), strings.HasSuffix(path, "/oauth2/token"):
		e.serveToken(w, r)
	case strings.HasPrefix(path, "/data/"), strings.HasPrefix(path, "/api/connector/"),
		strings.HasPrefix(path, "/metadata/"):
		e.serveFO(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveFO applies authentication and faults, then dispatches an F&O endpoint.
func (e *Emulator) serveFO(w http.ResponseWriter, r *http.Request) {
	name := endpointName(r)
	e.countRequest(name)
	if !e.authorized(r) {
		e.unauthorized.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+"/"+e.cfg.Tenant+`/oauth2/authorize"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f := e.CurrentFaults()
	if e.chance(f.Rate429) {
		e.throttle(w, f)
		return
	}
	if e.chance(f.Rate5xx) {
		e.faulted.Add(1)
		writeODataError(w, http.StatusServiceUnavailable, "", "The service is temporarily unavailable. Please try again later.")
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, actionPrefix):
		e.serveAction(w, r, strings.TrimPrefix(path, actionPrefix))
	case path == "/data/DataManagementDefinitionGroups":
		e.serveDefinitionGroups(w, r)
	case path == "/data/DataManagementExecutionJobDetails":
		e.serveJobDetails(w, r)
	case strings.HasPrefix(path, "/api/connector/"):
		e.serveConnector(w, r)
	case path == "/metadata/DataEntities":
		e.serveDataEntities(w, r)
	default:
		writeODataError(w, http.StatusNotFound, "", "No HTTP resource was found that matches the request URI '"+r.URL.String()+"'.")
	}
}

// endpointName names a request for Stats.Requests.
func endpointName(r *http.Request) string {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, actionPrefix):
		return strings.TrimPrefix(path, actionPrefix)
	case strings.HasPrefix(path, "/api/connector/"):
		rest := strings.TrimPrefix(path, "/api/connector/")
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
		return "connector." + rest
	default:
		return r.Method + " " + path
	}
}

func (e *Emulator) throttle(w http.ResponseWriter, f Faults) {
	e.throttled.Add(1)
	if f.RetryAfter > 0 {
		if f.RetryAfterHTTPDate {
			w.Header().Set("Retry-After", e.now().Add(f.RetryAfter).UTC().Format(http.TimeFormat))
		} else {
			secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
	}
	writeODataError(w, http.StatusTooManyRequests, "",
		"Number of requests exceeded the limit of 6000 over the time window of 300 seconds.")
}

var _ http.Handler = (*Emulator)(nil)
