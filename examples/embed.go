// Package examples holds the example config and its sample files, embedded in the
// binary so that `pipeline dev` runs anywhere without a checkout.
package examples

import "embed"

// Files holds pipeline.yaml and data/.
//
//go:embed pipeline.yaml data
var Files embed.FS
