package metrics

import (
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

// Names lists exactly the metrics the registry describes (deploy's alerts and dashboard
// are checked against it).
func TestNamesAreWhatIsRegistered(t *testing.T) {
	t.Parallel()
	m := New(nil)
	ch := make(chan *prometheus.Desc, 100)
	for _, c := range []prometheus.Collector{m.rows, m.jobs, m.jobSeconds, m.steps, m.stepSeconds, m.requests, m.retries, dbCollector{m}} {
		c.Describe(ch)
	}
	close(ch)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	var got []string
	for d := range ch {
		got = append(got, fq.FindStringSubmatch(d.String())[1])
	}
	assert.ElementsMatch(t, Names, got)
}

func TestAction(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/data/DataManagementDefinitionGroups/Microsoft.Dynamics.DataEntities.ImportFromPackage": "ImportFromPackage",
		"/api/connector/enqueue/1a2b?entity=Customers%20V3":                                      "connector.enqueue",
		"/tenant/oauth2/v2.0/token":                                                              "token",
		"/metadata/DataEntities":                                                                 "metadata",
		"/data/DataManagementDefinitionGroups":                                                   "odata",
		"/devstoreaccount1/dmf/x.zip":                                                            "blob",
	} {
		assert.Equal(t, want, Action(httptest.NewRequest("GET", "http://fo.example"+path, nil)), path)
	}
}
