// Package docs holds the user documentation that the binary also prints: mapping.md, the
// reference of the mapping language (`pipeline help mapping`). Its tests keep the
// documents true to the code: every transform and rule has its entry, and every example
// compiles and maps its sample rows as the document says.
package docs

import _ "embed"

// Mapping is mapping.md, the reference of a project's mapping and validation rules.
//
//go:embed mapping.md
var Mapping string
