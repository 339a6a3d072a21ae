// Package reader turns CSV, XLSX, JSON and NDJSON files into a stream of
// records, each with its source location (line, or sheet and row).
//
// It owns file formats only: where files come from (Blob, SFTP, local
// folders) and which were already imported belong to package ingest.
//
// # Records and errors
//
// Open (or OpenFile) returns a Reader whose Header is known at once and whose
// Next yields records until io.EOF. A problem confined to one row (a ragged
// CSV row, bytes invalid in the file's encoding, a NUL byte, an unclosed
// quote, a JSON record that is not an object) is a *RowError returned with
// what could be read of the row; reading goes on with the next call. Every
// other error is final. Values are always valid UTF-8 without NUL bytes.
// CSV and XLSX records whose fields are all empty (blank lines, ";;;" lines,
// styled but empty spreadsheet rows) carry no data and are skipped wherever
// they are; Locations keep counting them.
//
// Every error names the file first and says where (line, or sheet and row,
// and the column when there is one). What it quotes from the file (a cell, a
// key, a sheet name, a list of sheets) is cut to about 200 characters with
// what was left out said (package internal/excerpt), so that a hostile file
// cannot make a message large. Where the cause is likely, a message ends with
// a hint naming the setting that would read the file: "; the file looks like
// windows-1252: encoding: windows-1252?" for bytes the encoding does not
// decode, "; the header has one column containing ';': delimiter: ';'?" or
// "; the header is one column, ...: a title row above the header? header_row:
// 3?" for a row wider than a one-column header, "; the file looks like binary
// data, not text" for a file that is not text. HeaderHint gives the header's
// hint to callers that find a header lacking the columns they expect.
//
// # CSV
//
// RFC 4180: fields quoted with '"', quotes doubled inside, delimiters and
// line breaks allowed inside quotes (line numbers count physical lines, so a
// record's Line is where it starts). Lines end with LF or CRLF (CR alone when
// the first 64 KiB hold no LF). A quote inside an unquoted field is kept as
// text. The delimiter is given or detected from the first 20 records; the
// encoding is given or detected (see Options.Encoding). Other encodings are
// decoded to UTF-8 before parsing, so the parser only ever sees UTF-8.
//
// # XLSX
//
// A workbook read from a stream is spooled to a temp file (a zip needs random
// access). The sheet XML and shared strings are read by a hand-written
// streaming scanner: excelize's Rows loop is about 7 times slower. Cells are
// their raw values: shared and inline strings, numbers as written in the XML,
// booleans as TRUE/FALSE, error values such as #N/A as text, formulas as their
// cached result. A number whose cell style has a date or time number format
// (built-in ids 14-22, 27-36, 45-47, 50-58, or a custom format with y, m, d,
// h or s outside quotes and brackets) becomes ISO 8601: 2006-01-02 for
// dates, 15:04:05 for times below one day, 2006-01-02T15:04:05 for date-times
// and dates with a time part, with milliseconds when not zero. Both the 1900
// system (with Lotus 1-2-3's fictitious 1900-02-29, serial 60, which is kept
// as the number) and the 1904 system are handled. Rows are padded to the
// header width; cells beyond it holding a value make the row ragged. Shared
// strings are held in 4 MiB strings plus 8 bytes of offsets each, and a value
// taken from them shares (and keeps alive) its chunk. The decompressed size
// of the sheet and shared strings is capped (Options.MaxXLSXBytes), and a
// large part that compresses over 200:1 is refused as a likely zip bomb.
//
// # JSON and NDJSON
//
// JSON: the records are the elements of the array at Options.Records (a JSON
// pointer; the document root by default). NDJSON: one value per line. Nested
// objects are flattened to dotted paths (a.b.c) and array elements to their
// index (tags.0, lines.1.sku). The header is Options.Columns, or the union of
// the leaf paths of the first Options.HeaderSample records in first-seen
// order. Numbers are kept as their literal text, true and false as written,
// null as an empty value.
package reader
