// Package mapping turns source records into F&O entity rows as a project declares.
//
// Compile checks a project's mapping against the entity catalog once, at config load
// (the entity and target fields exist, every mandatory field is mapped or defaulted,
// constants, defaults and map values fit the field type) and compiles its transforms and
// expressions. Bind resolves the source columns against one file's header. Apply maps one
// record into a reused row slice.
//
// A field's value is computed in this order: its source (from, const or expr), its
// transforms in order, its map (with unmapped: keep, default or error), then its default
// when the value is still empty.
//
// Expressions (expr-lang) see the source record and the row so far: a plain identifier
// names a source column (Type), col("Account No") or src["Account No"] one whose name is
// no identifier, and row.CUSTOMERACCOUNT a field mapped above. Nothing here does I/O.
package mapping
