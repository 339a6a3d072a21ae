// Package datapackage writes and reads F&O Data Management Framework (DMF) data packages:
// the zip files the package API imports and exports (dmf-api.md §4).
//
// A package holds Manifest.xml, PackageHeader.xml and one data file per entity. The
// Writer produces exactly what F&O itself writes for a single-entity CSV import:
// both XML files in UTF-16 LE with a BOM, elements in DataContract (alphabetical)
// order, and the data file in the CSV-Unicode format (UTF-16 LE with BOM, CRLF line
// ends, RFC 4180 quoting). Rows are encoded and compressed as they arrive, so memory
// use does not grow with the row count.
//
// The Reader is lenient where F&O and other tools differ: it accepts XML and CSV in
// UTF-8 or UTF-16 (LE or BE, with or without a BOM), manifest elements in any order,
// unknown elements, and entry names in any letter case. Data rows are streamed.
package datapackage
