// Package excerpt shortens what a message quotes from a file or a remote answer (a
// header, a cell, a JSON key, a list of sheet names, a response body) so that an error
// stays readable and small whatever the input: a value is cut at MaxChars characters and
// a list at about as many, and what was left out is said.
//
//	excerpt.String(v)              abcd… (912,344 more characters)
//	excerpt.Quote(v)               "abcd"… (912,344 more characters)
//	excerpt.List(header, "column") id, name, city and 199,990 more columns
//	excerpt.QuotedList(s, "sheet") "Data", "Notes" and 12 more sheets
//
// Text shorter than the bounds comes back as strconv.Quote or strings.Join would give
// it, so short messages read as they always did. Every result is valid UTF-8 without
// NUL bytes: messages end up in Postgres text columns and in mail.
package excerpt
