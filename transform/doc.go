// Package transform holds the named value transforms of a field mapping (trim, upper,
// date, number, boolean, enum, concat, ...). Each transform is compiled once from its
// config arguments into a Step: bad names and arguments fail at config load with the
// file and line of the transform. A Step is bound to a file's header (for transforms
// that read other columns: concat, coalesce) into a Func, a pure function over one value
// and the source record. Nothing here does I/O.
//
// Empty values pass through every transform unchanged, except coalesce and concat (which
// fill or build them) and boolean (where an empty value means No), so that a field's
// default still applies after its transforms.
package transform
