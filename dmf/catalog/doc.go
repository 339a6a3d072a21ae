// Package catalog holds F&O data entity metadata as embedded data: DMF labels, AOT and
// OData names, keys, fields with types, lengths, enum values and mandatory flags, plus the
// reference lists (customer and vendor groups) that foreign-key checks use.
//
// The data lives in entities.json (dmf-api.md §7). It is used by config checks, validation
// defaults and the DMF emulator. The package owns data and lookup only; it holds no
// validation behaviour. Rules that need code (conditional mandatory fields, foreign keys,
// voucher balance) are described here as data and enforced by their users.
package catalog
