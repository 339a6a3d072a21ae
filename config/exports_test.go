package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dmfpipe/dmfpipe/config"
)

const exportConfig = `environments:
  prod: { url: "https://contoso.operations.dynamics.com", tenant: t, client_id: c, client_secret: s }
connections:
  out: { type: local, root: /tmp }
projects:
  - name: orders
    kind: export
    environment: prod
    definition_group: EXPORT-ORDERS
    legal_entity: USMF
    destination:
      connection: out
      path: "orders/{date}/{entity}-{time}.csv"
    format: { delimiter: ";" }
  - name: feed
    kind: export
    environment: prod
    mode: recurring
    activity: "{5ACD8121-D4E1-4CF8-B31F-9713DE3E3627}"
    destination: { connection: out, path: "feed/{execution}/{entity}.ndjson" }
  - name: journal-in
    kind: import
    environment: prod
    mode: recurring
    activity: 6a1b2c3d-0000-4000-8000-000000000001
    enqueue: file
    source: { connection: out, path: in }
    target: { entity: General journal, legal_entity: USMF }
    mapping:
      JOURNALNAME: { const: GenJrn }
`

func loadString(t *testing.T, yaml string) (*config.Config, error) {
	t.Helper()
	dir := writeConfig(t, map[string]string{"c.yaml": yaml})
	return config.Loader{LookupEnv: noEnv}.Load(filepath.Join(dir, "c.yaml"))
}

func TestExportDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadString(t, exportConfig)
	require.NoError(t, err)
	orders, feed, journal := cfg.Projects[0], cfg.Projects[1], cfg.Projects[2]
	assert.Equal(t, config.ModePackage, orders.Mode)
	assert.Equal(t, "csv", orders.ExportFormat(), "from the path's extension")
	assert.Equal(t, "ndjson", feed.ExportFormat())
	assert.Equal(t, config.OnPartialDeliver, orders.OnPartial)
	assert.Equal(t, config.OnEmptyHeader, orders.OnEmpty)
	assert.Equal(t, config.OnNoFileAck, feed.OnNoFile)
	assert.Equal(t, "crlf", orders.Format.LineEnd)
	assert.False(t, *orders.Format.BOM, "no BOM for utf-8 by default")
	assert.True(t, feed.Recurring())
	assert.Equal(t, "5acd8121-d4e1-4cf8-b31f-9713de3e3627", config.ActivityKey(feed.Activity))
	assert.Equal(t, config.EnqueueFile, journal.Enqueue)
	assert.Empty(t, journal.Target.DefinitionGroup, "a recurring import needs no definition group")

	utf16, err := loadString(t, strings.Replace(exportConfig, `format: { delimiter: ";" }`, `format: { encoding: utf-16 }`, 1))
	require.NoError(t, err)
	assert.True(t, *utf16.Projects[0].Format.BOM, "utf-16 has its BOM by default")
}

// Every wrong export or recurring setting is reported at its line, naming the key.
func TestExportRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"no definition group", "    definition_group: EXPORT-ORDERS\n", "", ":6: project orders: definition_group is required for exports"},
		{"no legal entity", "    legal_entity: USMF\n", "", ":6: project orders: legal_entity is required for exports"},
		{"no destination path", `      path: "orders/{date}/{entity}-{time}.csv"` + "\n", "", "project orders: destination.path is required"},
		{"unknown placeholder", "{entity}-{time}.csv", "{entity}-{hour}.csv", ":13: project orders: destination.path: \"orders/{date}/{entity}-{hour}.csv\": unknown placeholder {hour}"},
		{"format not told", "{time}.csv", "{time}.dat", ":13: project orders: the format cannot be told from destination.path"},
		{"on_partial", "    legal_entity: USMF\n", "    legal_entity: USMF\n    on_partial: ignore\n", `:11: project orders: on_partial must be deliver or fail, not "ignore"`},
		{"on_empty", "    legal_entity: USMF\n", "    legal_entity: USMF\n    on_empty: nothing\n", `:11: project orders: on_empty must be header or skip, not "nothing"`},
		{"on_no_file on package", "    legal_entity: USMF\n", "    legal_entity: USMF\n    on_no_file: skip\n", ":11: project orders: on_no_file belongs to recurring exports"},
		{"import key on export", "    legal_entity: USMF\n", "    legal_entity: USMF\n    on_errors: { max_error_rate: 0.1 }\n", ":11: project orders: on_errors belongs to import projects"},
		{"import format key", `format: { delimiter: ";" }`, `format: { delimiter: ";", skip_rows: 2 }`, ":14: project orders: format.skip_rows belongs to import projects"},
		{"export format key on import", "    enqueue: file\n", "    enqueue: file\n    format: { bom: true }\n", ":27: project journal-in: format.bom belongs to export projects"},
		{"csv key on json", `{entity}.ndjson" }`, `{entity}.ndjson" }` + "\n    format: { delimiter: \"|\" }", ":21: project feed: format.delimiter applies to csv, not ndjson"},
		{"bom on windows-1252", `format: { delimiter: ";" }`, `format: { encoding: windows-1252, bom: true }`, ":14: project orders: windows-1252 has no byte order mark"},
		{"line end", `format: { delimiter: ";" }`, `format: { line_end: cr }`, `:14: project orders: line_end must be crlf or lf, not "cr"`},
		{"recurring without execution", "feed/{execution}/{entity}.ndjson", "feed/{date}/{entity}.ndjson", ":20: project feed: destination.path needs {execution}"},
		{"recurring without activity", `    activity: "{5ACD8121-D4E1-4CF8-B31F-9713DE3E3627}"` + "\n", "", ":18: project feed: mode recurring needs activity"},
		{"activity not a guid", "{5ACD8121-D4E1-4CF8-B31F-9713DE3E3627}", "feed-job", `:19: project feed: activity "feed-job" is not a GUID`},
		{"activity on package", "    legal_entity: USMF\n", "    legal_entity: USMF\n    activity: 6a1b2c3d-0000-4000-8000-000000000009\n", ":11: project orders: activity belongs to mode: recurring"},
		{"bad mode", "    mode: recurring\n    activity: \"{5ACD", "    mode: batch\n    activity: \"{5ACD", `:18: project feed: mode must be package or recurring, not "batch"`},
		{"shared activity", "6a1b2c3d-0000-4000-8000-000000000001", "5ACD8121-D4E1-4CF8-B31F-9713DE3E3627", ":25: project journal-in: activity 5ACD8121-D4E1-4CF8-B31F-9713DE3E3627 of environment prod is already project feed's"},
		{"definition group on recurring export", "    mode: recurring\n", "    mode: recurring\n    definition_group: X\n", ":19: project feed: a recurring export dequeues from its activity"},
		{"enqueue", "enqueue: file", "enqueue: csv", `:26: project journal-in: enqueue must be package, file or source, not "csv"`},
		{"enqueue on export", "    mode: recurring\n    activity: \"{", "    mode: recurring\n    enqueue: file\n    activity: \"{", ":19: project feed: enqueue belongs to recurring imports"},
		{"lanes on recurring import", "target: { entity: General journal, legal_entity: USMF }", "target: { entity: General journal, legal_entity: USMF, lanes: 2 }", ":28: project journal-in: lanes do not apply to recurring imports"},
		{"manifest with entity", `      path: "orders/{date}/{entity}-{time}.csv"`, `      path: "orders/{date}/{entity}-{time}.csv"` + "\n      manifest: \"m/{entity}.json\"", ":14: project orders: destination.manifest names one file a run: no {entity} or {part}"},
		{"entity in folder needs manifest", `orders/{date}/{entity}-{time}.csv`, `orders/{entity}/{time}.csv`, ":13: project orders: destination.path has {entity} or {part} in its folder: set destination.manifest"},
		{"bad size", `      path: "orders/{date}/{entity}-{time}.csv"`, `      path: "orders/{date}/{entity}-{time}-{part}.csv"` + "\n      split: { bytes: lots }", `:14: projects[0].destination.split.bytes: invalid size "lots"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, exportConfig, tc.from)
			_, err := loadString(t, strings.Replace(exportConfig, tc.from, tc.to, 1))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestExportXLSXAndSplitRules(t *testing.T) {
	t.Parallel()
	xlsx := strings.Replace(exportConfig, `orders/{date}/{entity}-{time}.csv"`, `orders/{date}/orders-{time}-{part:2}.xlsx"`+"\n      split: { rows: 2000000, bytes: 10MB }\n      gzip: true", 1)
	xlsx = strings.Replace(xlsx, `format: { delimiter: ";" }`, "", 1)
	_, err := loadString(t, xlsx)
	require.Error(t, err)
	for _, want := range []string{
		"split.rows 2000000 is more than an xlsx sheet holds (1048575 data rows)",
		"split.bytes does not apply to xlsx",
		"gzip does not apply to xlsx",
	} {
		assert.Contains(t, err.Error(), want)
	}
	split := strings.Replace(exportConfig, `orders/{date}/{entity}-{time}.csv"`, `orders/{date}/{entity}-{time}.csv"`+"\n      split: { rows: 100000, bytes: 200MB }", 1)
	_, err = loadString(t, split)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "destination.path needs {part}: the files are split")

	ok := strings.Replace(exportConfig, `orders/{date}/{entity}-{time}.csv"`, `orders/{date}/{entity}-{time}-{part:3}.csv.gz"`+"\n      split: { rows: 100000, bytes: 200MB }\n      gzip: true\n      raw_package: \"orders/{date}/raw-{execution}.zip\"", 1)
	cfg, err := loadString(t, ok)
	require.NoError(t, err)
	d := cfg.Projects[0].Destination
	assert.EqualValues(t, 200_000_000, d.Split.Bytes)
	assert.Equal(t, 100000, d.Split.Rows)
	assert.Equal(t, "csv", cfg.Projects[0].ExportFormat(), ".csv.gz is csv")
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1048576": 1 << 20, "64KiB": 64 << 10, "200MB": 200e6, "1 GB": 1e9, "2GiB": 2 << 30, "10B": 10} {
		got, err := config.ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "1.5GB", "10TB", "MB"} {
		_, err := config.ParseByteSize(bad)
		assert.Error(t, err, bad)
	}
}

func TestExportEntitiesColumns(t *testing.T) {
	t.Parallel()
	cfg, err := loadString(t, strings.Replace(exportConfig, `format: { delimiter: ";" }`, `format: { delimiter: ";" }
    entities:
      Customers V3:
        path: "customers/{date}.csv"
        columns:
          Account: CUSTOMERACCOUNT
          name:    { from: ORGANIZATIONNAME, transforms: [trim, upper] }
      Vendors V2: { skip: true }`, 1))
	require.NoError(t, err)
	ents := cfg.Projects[0].Entities
	require.Len(t, ents, 2)
	cols := ents["Customers V3"].Columns
	require.Len(t, cols, 2)
	assert.Equal(t, "Account", cols[0].Field, "column names keep their case")
	assert.Equal(t, "CUSTOMERACCOUNT", cols[0].From)
	assert.Equal(t, "name", cols[1].Field)
	assert.Len(t, cols[1].Transforms, 2)
	assert.True(t, ents["Vendors V2"].Skip)

	_, err = loadString(t, strings.Replace(exportConfig, `format: { delimiter: ";" }`, `format: { delimiter: ";" }
    entities:
      Customers V3:
        columns: { Account: A, account: B }`, 1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "column mapped twice")
}
