// Package exports holds the export stages: F&O's data out to files, on schedule or on
// demand, exactly once. Like package imports, the stages are plain functions over their
// dependencies (Deps), run as durable steps by a runner (package worker, on River) through
// the Steps interface; the decisions are pure functions with table tests (policy.go,
// manifest.go, package pathtemplate, package writer).
//
// # Package exports (mode: package)
//
//	request   ExportToPackageAsync (ExportToPackage where F&O lacks it) under the job's
//	          execution id <project>-<job>-export-<nonce>, recorded before the call; a
//	          request run again after a crash asks F&O about it before sending anything
//	poll      GetExecutionSummaryStatus on the environment's poll schedule (kept across
//	          restarts); "not found" and Unknown right after the request are pending;
//	          Succeeded delivers, PartiallySucceeded delivers and flags the job or fails
//	          it (on_partial), anything else fails it with F&O's first errors
//	deliver   GetExportedPackageUrl until it is a URL ("", "''" and a zero GUID are not),
//	          the package streamed from the SAS URL without the bearer token into a
//	          temporary file, then written out (below)
//	finalize  the job's status and rows, the notification
//
// # Recurring exports (mode: recurring)
//
//	dequeue   one message; 204 ends the job. The message is recorded by (environment,
//	          activity, CorrelationId) with its dequeue body before anything is
//	          downloaded: a message whose files were written before (F&O hands an
//	          unacknowledged message out again after 30 minutes; a crash between the write
//	          and the ack) is acknowledged, never written again. A message without a
//	          download location is recorded and acknowledged or left (on_no_file).
//	deliver   the message's package downloaded (the connector's download, with the
//	          bearer token; an http://...:80 location is put on the environment's https
//	          URL), written out, recorded as written, then acknowledged with the exact
//	          body of its last dequeue; a failed ack is retried with backoff. Then the
//	          next dequeue: a backlog is worked one message at a time.
//
// # Writing a package
//
// Each entity of the package's manifest goes to the files its path template names (the
// entity's own, or destination.path), in the project's format (package writer), with its
// columns made by the mapping language when the project says so, split into parts by
// rows or size, gzip-compressed when asked. Entities whose path has no {entity} share a
// workbook (a sheet each; csv, json and ndjson hold one entity). A copy of the raw
// package comes first when the project keeps one, and a manifest (every file with its
// rows, bytes and SHA-256) last.
//
// Every file goes through ingest.Destination: written to a temporary name and renamed
// (SFTP: posix-rename), or staged as uncommitted blocks and committed last (Blob), so no
// reader ever sees half a file, and an existing file is never replaced. Output is
// deterministic (the same package gives the same bytes), so a delivery run again after a
// crash that finds a file already under its name with the same SHA-256 counts it as
// written; a file with other content there fails the job, untouched. Each file is
// recorded (jobhistory export_files) once it is under its name.
//
// A package that cannot be written as the project says (ContentError: a data file that
// is not CSV, a value the format cannot hold, a missing column) fails the job (or, in a
// recurring export, the message, which is then not acknowledged); the network and the
// destination are retried.
package exports
