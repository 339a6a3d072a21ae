// Package emulator is a local Dynamics 365 F&O Data Management Framework endpoint: it
// speaks the protocol of dmf-api.md so that dmfpipe (and anyone else) can run imports and
// exports without an F&O environment. It parses what clients send independently of the
// dmf client package, so that it catches client bugs instead of sharing them.
//
// *Emulator is an http.Handler. It derives its base URL from the request's Host, so
// httptest.NewServer(emulator.New(emulator.Config{})) works as is; its URL is then both
// the F&O environment URL and the token endpoint host.
//
// # Endpoints
//
//   - POST /{tenant}/oauth2/v2.0/token (scope=<base>/.default) and /{tenant}/oauth2/token
//     (resource=<base>): client credentials, form-encoded. The v1 answer carries
//     expires_in as a string plus expires_on and not_before. Errors are Entra ID JSON:
//     400 for an unknown tenant, grant type, client ID or a scope without /.default, 401
//     for a wrong secret. A resource or scope with a trailing slash is accepted and
//     recorded as a protocol violation. Tokens are unsigned JWTs; every F&O endpoint
//     needs one that is unexpired (401 otherwise).
//   - POST /data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.<Action>
//     for every action of dmf-api.md §2.2. Results are {"@odata.context", "value"}, flat
//     by default; errors use the OData error envelope. Unknown body parameters are a 400
//     (as OData answers), missing ones read as empty and are recorded as violations.
//     Choices where F&O is undocumented: DeleteExecutionHistoryJob answers an
//     Edm.Boolean (false for an unknown ID); InitializeDataManagement answers 204 (a void
//     action); GetEntityExecutionSummaryStatusList answers a collection of RIS's
//     EntityExecutionStatus objects; GetExecutionSummaryPageUrl points at the admin
//     API's execution page; GetMessageStatus answers 400 for an unknown message.
//   - /devstoreaccount1/dmf/<name>: the blob container behind the SAS URLs of
//     GetAzureWriteUrl, exports and error files. Put Blob (x-ms-blob-type: BlockBlob or
//     400), Put Block, Put Block List, Get/Head, Delete; 201 on writes. The SAS
//     signature, expiry and permission are checked; an Authorization header is recorded
//     as a violation (and ignored).
//   - GET /data/DataManagementExecutionJobDetails and /data/DataManagementDefinitionGroups,
//     GET /metadata/DataEntities (from the catalog; Name is the AOT name, LabelId the
//     DMF label): $filter with eq and and ('*' in a value is a wildcard), $select, $top,
//     $skip, pages of 10,000 with @odata.nextLink.
//   - /api/connector/{enqueue,dequeue,download,ack,jobstatus}/{activityId}, activity ID
//     with or without braces, for jobs added with AddRecurringJob.
//
// # Imports
//
// ImportFromPackage reads the package from the blob store at once: Manifest.xml and
// PackageHeader.xml are found case-insensitively, in UTF-8 or UTF-16 with any element
// order, in the DataManagement namespace. Entities are matched by DMF label (TargetEntity
// as the AOT fallback); an unknown or read-only entity, a missing data file, a wrong
// namespace or a broken zip is a 400. The synchronous form answers once the package is
// staged; ImportFromPackageAsync answers at once. An empty executionId gets a server ID
// {group}-{yyyy-MM-ddTHH:mm:ss}-{32 hex}; a reused ID with the same packageUrl is a no-op
// that answers the same ID, with another package a 400. Executions of one definition
// group run one at a time.
//
// An execution goes NotRun -> Executing -> Succeeded, PartiallySucceeded or Failed
// (Config.ExecutionDelay before and after the work). CSV-Unicode data must be UTF-16 with
// BOM (UTF-8 only with Quirks.LenientUTF8) and CRLF; quoting is RFC 4180. Columns map to
// fields through the EntityMap (an empty map stages nothing, silently). Source-to-staging
// errors (types: decimals with '.', ISO or M/d/yyyy dates, enum value names; lengths;
// column counts) go to the staging error file; staging-to-target errors (mandatory and
// conditional fields, customer and vendor group and sales-order foreign keys, duplicate
// keys within the file, unbalanced journal vouchers) go to the target error keys file.
// Valid rows are upserted by entity key per legal entity (keys compare
// case-insensitively); number-sequence fields (journal batch and voucher, sales line lot
// ID) replace placeholders with generated numbers, so journals and lines are never
// merged. RunBusinessLogic, RunBusinessValidation and the Fail*OnError flags are not
// modelled. The first GetImportTargetErrorKeysFileUrl after GenerateImportTargetErrorKeysFile
// answers "" (generating); later calls answer the URL.
//
// # Errors
//
// Confidence tags are those of dmf-api.md: [C] Microsoft documentation or code, [O]
// observed in public client code or posts, [I] the emulator's reading or choice.
//
// RecordId. GetExecutionErrors names a row by its staging RecId: the RecId F&O gave the
// row in the entity's staging table when it staged the package, unrelated to the row's
// position, which a client cannot predict (§2.6 [I]; that DMF logs a row's messages
// under its staging RecId, DMFStagingValidationLog::insertLogs(..., staging.RecId, ...),
// is in a public D365 developer cheat sheet, anderson-joyle/D365O-Cheatsheet [O]). The
// emulator numbers so that no client can take a RecordId for a position [I]: one
// sequence per staging table (entity), shared by every execution and legal entity and
// never reused, starting at a seeded point between 5637144576 (F&O's first RecId) and
// 2^30 above it; a file is staged in bundles of consecutive rows (at least 8 bundles,
// at most 100 rows each, so a 7-row file has 7 bundles of one row), numbered bundle by
// bundle in a shuffled order, as parallel tasks finish, with up to 16 RecIds lost
// after each bundle and up to 250 after each file (RecId blocks reserved and not used).
// Config.RandSeed fixes all of it for a given sequence of imports; each table draws
// from its own stream, so imports of other entities do not move its numbers. A row
// keeps its RecordId in every message about it, in both steps and in the admin API; a
// row that fails source-to-staging also has one (the emulator's choice: F&O keeps such
// rows out of staging and documents no RecordId for them [I]).
//
// Order. Per entity in the order the entities ran: the row messages of source-to-staging
// by RecordId, that step's results line, the row messages of staging-to-target by
// RecordId, that step's results line, then a failure of the whole entity [I]. A row with
// several problems has several entries.
//
// Messages and Field, by kind (Field is the staging field name, upper case, or empty
// when the message is about the record, the file or the execution [I]):
//
//   - Mandatory field, staging-to-target, Field = the field, names no key:
//     "Field 'Customer group' must be filled in." ([O]: the text a public F&O UI
//     automation tool matches, repository not identified; the field by its label). A
//     conditional rule (PARTYTYPE Organization needs ORGANIZATIONNAME; an address
//     description needs the country) gives the same text. A rule that needs one of
//     several fields: "At least one of the fields 'First name', 'Middle name', 'Last
//     name' must be filled in." [I]
//   - Missing related record, staging-to-target, Field = the field, names the value and
//     not the record: "The value '99' in field 'Customer group' is not found in the
//     relating table 'Customer groups'." ([I]: the wording of F&O's relation check).
//   - Duplicate key (a key repeated in the file; keys compare case-insensitively), the
//     later row fails staging-to-target, Field empty, names the key values as the row
//     has them: "Cannot create a record in Customers (CustTable). Customer account:
//     c001. The record already exists." ([C]: the shape of KB 4611825, Microsoft's
//     supply-chain/troubleshooting/products/cannot-import-with-r.md, "Cannot create a
//     record in Items - tracking dimension groups (EcoResTrackingDimensionGroupItem).
//     Item number: 2040663, Batch. The record already exists."; [O] the same tool's
//     "Cannot create a record in Translations (LanguageTxt). Language: en-us. The record
//     already exists."; the table label and name per entity and "Label, Label: value,
//     value" for several key fields are [I]). F&O may instead fail staging of the whole
//     entity on a key repeated in one file (DMF1959, [C R17]); the emulator does not.
//   - Unbalanced voucher (General journal), staging-to-target, every row of the voucher,
//     Field empty, names the voucher and date, not the line: "The transactions on voucher
//     000002 do not balance as per 1/31/2025. (accounting currency: 5.00 - reporting
//     currency: 5.00)" ([I]: the ledger's posting check; F&O itself checks balance when
//     posting, not on import).
//   - Value that does not convert (decimal, integer, date, enum name), source-to-staging,
//     Field = the column, names neither value nor record: "Data conversion failed. The
//     data conversion for column "CREDITLIMIT" returned status value 2 and status text
//     "The value could not be converted because of a potential loss of data.". Text
//     longer than the field: the same with status value 4 and "Text was truncated or one
//     or more characters had no match in the target code page." ([I]: SSIS's wording;
//     DMF stages delimited files through SSIS, DMF2016/DMF2018 [C R17]).
//   - Row with too many or too few values, source-to-staging, Field empty: "DMF2018:
//     Column has invalid data. The row has 7 values and the header 6 columns." ([C R17]
//     code and cause; the wording is [I]).
//   - Results line, per entity and step with failed rows, RecordId and Field empty:
//     "Results. 25 record(s) failed in target for entity 'Customers V3'." (or "in
//     staging"; [I]).
//   - Failure of a whole entity or execution, RecordId and Field empty: the file is not
//     Unicode ("Selected file is not Unicode...", [O R33]), a mapped column is missing
//     (DMF2022, [C R17]), concurrent imports of a project (DMF2025, [C R17]), a CSV that
//     cannot be parsed (an LF line end [O R33]), an unsupported source format.
//
// Error files, both CSV-Unicode: UTF-16 LE with BOM, comma-separated, RFC 4180 quoting,
// CRLF, a header row (§2.7, §4.6 [C R1; format I]); both answer "" or false when the
// step had no failed row, and their URLs are SAS URLs of the blob store.
//
//   - Staging error file (GetImportStagingErrorFileUrl): the input rows that failed
//     source-to-staging, in file order, with the data file's header and every column as
//     the file had it, keys included.
//   - Target error keys file (GenerateImportTargetErrorKeysFile, then
//     GetImportTargetErrorKeysFileUrl): one column per entity key field (staging names,
//     without dataAreaId), one record per row that failed staging-to-target, in key
//     order (case-insensitive, as the staging table's key index returns them [I]):
//     neither the order of the file nor that of the RecordIds.
//
// # Exports
//
// ExportToPackage(/Async/Preview) needs an export project (AddExportProject or the admin
// API, else 400) and packs the stored rows of its entities and company into a real
// package: Manifest.xml and PackageHeader.xml in UTF-16 LE with BOM, a CSV-Unicode data
// file per entity with every catalog field (an entity without rows gets a file with its
// header alone). GetExportedPackageUrl answers "" until the execution has ended, and once
// more on the first call after that, as F&O can; Faults.ExportURLNotReady makes more
// calls answer "", "”" or a zero GUID; then a SAS URL. Faults.PartialExports ends
// exports PartiallySucceeded, with their package. ExportFromPackage turns the uploaded
// package's entities into an export project and, with execute, runs it.
//
// # Recurring integrations
//
// Enqueued files and packages are processed at once in a goroutine through the same
// import engine (Enqueued -> Preprocessing -> Processing -> Processed, ProcessedWithErrors
// or PreProcessingError). Individual files map header columns to fields by staging or
// OData name and may be UTF-16 or UTF-8. An export job runs when a dequeue finds it due
// (first dequeue, then every Interval, or after the admin run endpoint); the dequeue waits
// for it; QueueRecurringExport (the admin API's recurring-jobs/{id}/messages) runs one at
// once, so a backlog can be built. A dequeued message is invisible for
// Config.VisibilityTimeout (30 minutes, of Config.Now time) unless acked, then handed out
// again with a new PopReceipt. Faults.DequeueNoFile hands the next messages out without a
// file (a null DownloadLocation), Faults.AckFailures answers the next acks 500.
//
// # Admin API
//
// JSON endpoints under /_emulator/, without authentication:
//
//	GET  /_emulator/rows?entity=E&legal_entity=LE     target rows (empty fields omitted)
//	POST /_emulator/rows?entity=E&legal_entity=LE     seed rows: [{"FIELD":"value"}, ...]
//	GET  /_emulator/executions                        every execution
//	GET  /_emulator/executions/{id}                   one execution
//	POST /_emulator/executions/{id}/cancel            cancel a running execution (409 if finished)
//	GET  /_emulator/stats                             counters and protocol violations
//	GET  /_emulator/faults                            faults in force
//	PUT  /_emulator/faults                            replace them: {"rate_429":0.3,"retry_after":"1s",
//	                                                  "retry_after_http_date":false,"rate_5xx":0,
//	                                                  "rate_5xx_on_status":0,"not_found_after_import":0,
//	                                                  "stuck_executing":false,"fail_concurrent_imports":false,
//	                                                  "latency":"0s","partial_exports":false,
//	                                                  "export_url_not_ready":0,"dequeue_no_file":0,
//	                                                  "ack_failures":0} (absent fields are zero)
//	POST /_emulator/export-projects                   {"definition_group","entity","legal_entity","filter":{}}
//	POST /_emulator/recurring-jobs                    {"activity_id","direction":"import|export","entity",
//	                                                  "definition_group","legal_entity","interval":"1h"}
//	POST /_emulator/recurring-jobs/{id}/run           make an export job due
//	POST /_emulator/recurring-jobs/{id}/messages?count=N  run an export job N times now:
//	                                                  a backlog of N messages
//	                                                  ({"correlation_ids": [...]})
//
// # Faults
//
// Faults (Config.Faults, SetFaults, PUT /_emulator/faults) inject 429s with Retry-After
// (seconds, rounded up, or an HTTP date; RetryAfter 0 sends none) and an F&O-like OData
// message, 503s on any F&O call, 500/503 on status polls, "were not found" 400s on the
// first polls of a new execution, executions stuck in Executing, DMF2025 failures of
// overlapping imports of one definition group, and latency. Injected failures happen
// before a request is processed.
package emulator
