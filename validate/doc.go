// Package validate checks entity rows: per-row rules as pure Go over a mapped row, and
// set rules (unique keys, lookups against reference lists) as SQL over a job's staging
// rows. Every failure is an Error located by row, source line, source column and entity
// field; rows with errors are kept and marked, never dropped.
package validate
