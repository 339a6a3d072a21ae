// Package pattern compiles the file-name patterns of a project's source.pattern, once,
// for the three places that use them: listing a source (ingest.Source.List and its
// backends), matching a file given by path (pipeline run --file) and taking values such
// as the legal entity from a file's name.
//
// # Syntax
//
// A pattern is a path relative to the listed folder: elements separated by "/", one per
// folder level, matched against the file's path level by level. Within an element:
//
//	term     matches
//	c        the character c itself, for any c but those below
//	*        any run of characters, possibly empty
//	?        exactly one character
//	[abc]    one of the characters listed; [a-z] a range; [^...] any character not listed
//	\c       the character c itself, e.g. \* \? \[ \{ \\
//	{name}   a capture: one or more characters, recorded under name
//
// This is path.Match, element by element, with captures added. A capture name is a
// lower-case letter followed by lower-case letters, digits or "_", and appears once in
// a pattern. Characters are Unicode code points, so "?" matches "ä" whole; matching is
// case-sensitive.
//
// Refused, with a *SyntaxError that gives the column: "**" (use one "*" per folder
// level), an empty, "." or ".." element, a leading or trailing "/", a "/" inside a class
// or after "\", a class that is empty, unterminated or has a backwards range ([z-a]), a
// "\" at the end, an unescaped "{" that does not start a valid capture, a capture right
// next to "*" or to another capture, NUL bytes, text that is not UTF-8, the
// replacement character U+FFFD as a literal, and patterns longer than MaxLen bytes. The
// empty pattern is "*".
//
// A "{" stands for itself only when escaped (\{); a lone "}" stands for itself. Before
// captures, "{" was an ordinary character; a pattern such as "file{1}.csv" must now be
// written "file\{1}.csv".
//
// # Captures
//
// A capture takes the shortest text that lets the rest of its element match, and a "*"
// the longest, deciding from left to right: "customers_{company}_*.csv" takes "USMF"
// from "customers_USMF_2026_11.csv". Because a capture beside "*" (or beside another
// capture) would always take one character, such patterns are refused: write a literal
// between them ("{company}_*").
//
// Names, ".", ".." and empty path elements are never file names: they match no pattern.
package pattern
