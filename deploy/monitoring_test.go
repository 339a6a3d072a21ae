package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/internal/metrics"
)

// dmfpipeMetric finds the dmfpipe metrics an expression reads.
var dmfpipeMetric = regexp.MustCompile(`\bdmfpipe_[a-z_]+`)

// assertKnownMetrics fails for an expression that reads a metric dmfpipe does not have
// (a histogram's _bucket, _sum and _count are its own).
func assertKnownMetrics(t *testing.T, where, expr string) {
	t.Helper()
	names := dmfpipeMetric.FindAllString(expr, -1)
	assert.NotEmpty(t, names, "%s reads no dmfpipe metric: %s", where, expr)
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
		assert.True(t, slices.Contains(metrics.Names, n) || slices.Contains(metrics.Names, base), "%s reads %s, which dmfpipe does not report", where, n)
	}
}

func TestPrometheusAlertsReadDmfpipesMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("monitoring/alerts.yaml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	require.NotEmpty(t, rules.Groups)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.Contains(t, []string{"page", "ticket", "info"}, r.Labels["severity"], r.Alert)
			if r.Alert != "DmfpipeNodeDown" {
				assertKnownMetrics(t, r.Alert, r.Expr)
			}
		}
	}
}

func TestGrafanaDashboardReadsDmfpipesMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("monitoring/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, q := range p.Targets {
			assertKnownMetrics(t, p.Title, q.Expr)
		}
	}
}
