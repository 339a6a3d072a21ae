package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dmfpipe/dmfpipe/config"
)

// configPath is where every deployment puts the config: the image's CMD, the Kubernetes
// mount and the systemd unit agree on it.
const configPath = "/etc/dmfpipe/pipeline.yaml"

// consolePort is the port of the console, /healthz, /readyz and /metrics.
const consolePort = 8080

// manifest is the part of a Kubernetes object the tests look at.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	file string
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	StartupProbe    *probe `yaml:"startupProbe"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             bool  `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

// documents decodes every YAML document of file, each as a manifest and as raw nodes.
func documents(t *testing.T, file string) ([]manifest, []*yaml.Node) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var (
		ms    []manifest
		nodes []*yaml.Node
	)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, file)
		var m manifest
		require.NoError(t, n.Decode(&m), file)
		m.file = file
		ms = append(ms, m)
		nodes = append(nodes, &n)
	}
	return ms, nodes
}

// cluster is the Kubernetes directory, parsed.
type cluster struct {
	kust      kustomization
	objects   map[string]*yaml.Node // by kind
	manifests []manifest
}

func loadCluster(t *testing.T) cluster {
	t.Helper()
	dir := "kubernetes"
	c := cluster{objects: map[string]*yaml.Node{}}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &c.kust))
	for _, res := range c.kust.Resources {
		ms, nodes := documents(t, filepath.Join(dir, res))
		require.NotEmpty(t, ms, res)
		for i, m := range ms {
			require.NotEmpty(t, m.APIVersion, "%s: document %d has no apiVersion", res, i)
			require.NotEmpty(t, m.Kind, "%s: document %d has no kind", res, i)
			require.NotEmpty(t, m.Metadata.Name, "%s: document %d has no metadata.name", res, i)
			require.NotContains(t, c.objects, m.Kind, "one %s expected", m.Kind)
			c.objects[m.Kind] = nodes[i]
			c.manifests = append(c.manifests, m)
		}
	}
	return c
}

func (c cluster) decode(t *testing.T, kind string, v any) {
	t.Helper()
	n, ok := c.objects[kind]
	require.True(t, ok, "no %s among the kustomization's resources", kind)
	require.NoError(t, n.Decode(v), kind)
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	assert.Equal(t, "dmfpipe", c.kust.Namespace)
	// Every YAML file is a resource, the generator's input or the secret example (kept out
	// on purpose: applying it would overwrite the real secret).
	notResources := []string{"kustomization.yaml", "secret.example.yaml"}
	for _, g := range c.kust.ConfigMapGenerator {
		notResources = append(notResources, g.Files...)
		for _, f := range g.Files {
			assert.FileExists(t, filepath.Join("kubernetes", f))
		}
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		base := filepath.Base(f)
		if !slices.Contains(notResources, base) {
			assert.Contains(t, c.kust.Resources, base, "%s is not in kustomization.yaml", base)
		}
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"} {
		assert.Contains(t, c.objects, kind)
	}
	// Every document of every YAML file parses and names its kind, the example too.
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" || slices.Contains(notResources[2:], filepath.Base(f)) {
			continue
		}
		ms, _ := documents(t, f)
		for _, m := range ms {
			assert.NotEmpty(t, m.APIVersion, f)
			assert.NotEmpty(t, m.Kind, f)
		}
	}
}

func TestDeployment(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	var d deployment
	c.decode(t, "Deployment", &d)
	assert.GreaterOrEqual(t, d.Spec.Replicas, 2, "several replicas share one database")
	podLabels := d.Spec.Template.Metadata.Labels
	for k, v := range d.Spec.Selector.MatchLabels {
		assert.Equal(t, v, podLabels[k], "the selector matches the pod template")
	}

	pod := d.Spec.Template.Spec
	assert.True(t, pod.SecurityContext.RunAsNonRoot)
	assert.NotZero(t, pod.SecurityContext.RunAsUser, "a numeric non-root user")
	assert.GreaterOrEqual(t, pod.TerminationGracePeriodSeconds, 60, "time for a graceful shutdown")

	require.Len(t, pod.Containers, 1)
	serve := pod.Containers[0]
	assert.Empty(t, serve.Command, "the image's ENTRYPOINT (pipeline) runs")
	assert.Equal(t, []string{"serve", "-c", configPath}, serve.Args)

	require.Len(t, serve.Ports, 1)
	port := serve.Ports[0]
	assert.Equal(t, consolePort, port.ContainerPort)
	for name, p := range map[string]*probe{"startup": serve.StartupProbe, "liveness": serve.LivenessProbe, "readiness": serve.ReadinessProbe} {
		require.NotNil(t, p, "%s probe", name)
		assert.Contains(t, []string{port.Name, "8080"}, p.HTTPGet.Port.Value, "%s probe port", name)
	}
	assert.Equal(t, "/healthz", serve.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/healthz", serve.StartupProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", serve.ReadinessProbe.HTTPGet.Path)

	// Migrations run before serve, in every pod (concurrent runs take an advisory lock).
	require.Len(t, pod.InitContainers, 1)
	migrate := pod.InitContainers[0]
	assert.Equal(t, serve.Image, migrate.Image)
	assert.Equal(t, []string{"migrate", "up", "-c", configPath}, migrate.Args)

	volumes := map[string]int{}
	for i, v := range pod.Volumes {
		volumes[v.Name] = i
	}
	for _, ct := range []container{serve, migrate} {
		assert.False(t, *ct.SecurityContext.AllowPrivilegeEscalation, ct.Name)
		assert.True(t, ct.SecurityContext.ReadOnlyRootFilesystem, ct.Name)
		assert.True(t, ct.SecurityContext.RunAsNonRoot, ct.Name)
		assert.Equal(t, []string{"ALL"}, ct.SecurityContext.Capabilities.Drop, ct.Name)
		assert.NotEmpty(t, ct.Resources.Requests["cpu"], ct.Name)
		assert.NotEmpty(t, ct.Resources.Requests["memory"], ct.Name)
		assert.NotEmpty(t, ct.Resources.Limits["memory"], ct.Name)

		mounts := map[string]string{}
		for _, m := range ct.VolumeMounts {
			require.Contains(t, volumes, m.Name, "%s mounts an undeclared volume", ct.Name)
			mounts[m.MountPath] = m.Name
		}
		// The config directory is the generated ConfigMap holding pipeline.yaml.
		cfgVol := pod.Volumes[volumes[mounts[filepath.Dir(configPath)]]]
		require.NotNil(t, cfgVol.ConfigMap, "%s: %s is not a ConfigMap mount", ct.Name, filepath.Dir(configPath))
		assert.True(t, generates(c.kust, cfgVol.ConfigMap.Name, filepath.Base(configPath)),
			"ConfigMap %s holding %s comes from kustomization.yaml", cfgVol.ConfigMap.Name, filepath.Base(configPath))
		secVol := pod.Volumes[volumes[mounts[secretsDir]]]
		require.NotNil(t, secVol.Secret, "%s: %s is not a Secret mount", ct.Name, secretsDir)
		assert.Equal(t, "dmfpipe-secrets", secVol.Secret.SecretName)
		// A read-only root needs a writable /tmp (XLSX spooling).
		assert.Equal(t, "tmp", mounts["/tmp"], ct.Name)
	}
	require.Len(t, c.kust.Images, 1)
	assert.Equal(t, serve.Image, c.kust.Images[0].Name, "kustomization.yaml sets the image")
}

func generates(k kustomization, name, file string) bool {
	for _, g := range k.ConfigMapGenerator {
		if g.Name == name && slices.Contains(g.Files, file) {
			return true
		}
	}
	return false
}

func TestServiceAndDisruptionBudget(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	var d deployment
	c.decode(t, "Deployment", &d)
	podLabels := d.Spec.Template.Metadata.Labels

	var svc service
	c.decode(t, "Service", &svc)
	require.NotEmpty(t, svc.Spec.Selector)
	for k, v := range svc.Spec.Selector {
		assert.Equal(t, v, podLabels[k], "the Service selects the pods")
	}
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, consolePort, svc.Spec.Ports[0].Port)
	assert.Equal(t, d.Spec.Template.Spec.Containers[0].Ports[0].Name, svc.Spec.Ports[0].TargetPort.Value)

	var budget pdb
	c.decode(t, "PodDisruptionBudget", &budget)
	require.NotEmpty(t, budget.Spec.Selector.MatchLabels)
	for k, v := range budget.Spec.Selector.MatchLabels {
		assert.Equal(t, v, podLabels[k], "the budget covers the pods")
	}
}

const (
	secretsDir     = "/run/secrets/dmfpipe"
	credentialsDir = "/run/credentials/dmfpipe.service"
)

// loadConfig loads a deployment's pipeline.yaml with every ${env:} set and every
// ${file:} readable, and returns the env variables and files it referred to.
func loadConfig(t *testing.T, path string) (cfg *config.Config, envs, files []string) {
	t.Helper()
	l := config.Loader{
		LookupEnv: func(name string) (string, bool) {
			envs = append(envs, name)
			return "placeholder-" + strings.ToLower(name), true
		},
		ReadFile: func(p string) ([]byte, error) {
			files = append(files, p)
			return []byte("placeholder"), nil
		},
	}
	cfg, err := l.Load(path)
	require.NoError(t, err, "%s does not pass the config checks", path)
	return cfg, envs, files
}

func TestKubernetesConfig(t *testing.T) {
	t.Parallel()
	cfg, envs, files := loadConfig(t, "kubernetes/pipeline.yaml")
	assert.Empty(t, envs, "every secret comes from the mounted Secret")
	ms, nodes := documents(t, "kubernetes/secret.example.yaml")
	require.Len(t, ms, 1)
	assert.Equal(t, "Secret", ms[0].Kind)
	assert.Equal(t, "dmfpipe-secrets", ms[0].Metadata.Name)
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	require.NoError(t, nodes[0].Decode(&secret))
	require.NotEmpty(t, files)
	for _, f := range files {
		assert.Equal(t, secretsDir, filepath.Dir(f), "%s is not in the mounted Secret", f)
		assert.Contains(t, secret.StringData, filepath.Base(f), "secret.example.yaml has no key for %s", f)
	}
	_, port, err := net.SplitHostPort(cfg.Console.Addr)
	require.NoError(t, err)
	host, _, _ := net.SplitHostPort(cfg.Console.Addr)
	assert.Equal(t, "8080", port, "console.addr is the port the probes and the Service use")
	assert.Contains(t, []string{"", "0.0.0.0", "::"}, host, "the kubelet probes from outside the pod: listen on every interface")
	assert.NotEmpty(t, cfg.Console.BaseURL, "notification links")
}

// unit is a systemd unit file: values by "Section.Key", in order.
type unit map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s: not key=value: %q", path, line)
			require.NotEmpty(t, section, "%s: %q outside a section", path, line)
			u[section+"."+strings.TrimSpace(k)] = append(u[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	require.NoError(t, sc.Err())
	return u
}

func (u unit) one(t *testing.T, key string) string {
	t.Helper()
	require.Len(t, u[key], 1, key)
	return u[key][0]
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := parseUnit(t, "systemd/dmfpipe.service")
	assert.Equal(t, "/usr/local/bin/pipeline serve -c "+configPath, u.one(t, "Service.ExecStart"))
	assert.Equal(t, "/usr/local/bin/pipeline migrate up -c "+configPath, u.one(t, "Service.ExecStartPre"))
	assert.Equal(t, "simple", u.one(t, "Service.Type"))
	assert.Equal(t, "on-failure", u.one(t, "Service.Restart"))
	assert.Equal(t, "strict", u.one(t, "Service.ProtectSystem"))
	assert.Equal(t, "yes", u.one(t, "Service.NoNewPrivileges"))
	assert.Equal(t, "multi-user.target", u.one(t, "Install.WantedBy"))
	assert.Contains(t, u["Service.ReadWritePaths"], "/var/lib/dmfpipe")
	assert.Equal(t, "dmfpipe", u.one(t, "Service.StateDirectory"))
	assert.Equal(t, "dmfpipe", u.one(t, "Service.User"))
	assert.Equal(t, "/etc/dmfpipe/dmfpipe.env", u.one(t, "Service.EnvironmentFile"))
	assert.Equal(t, "180s", u.one(t, "Service.TimeoutStopSec"), "as long as the pods' terminationGracePeriodSeconds")

	// The sysusers file creates the unit's user.
	sysusers, err := os.ReadFile("systemd/dmfpipe.sysusers")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^u dmfpipe `, string(sysusers))

	// Every ${file:} of the config is a credential the unit loads, every ${env:} a line
	// of the environment file example.
	_, envs, files := loadConfig(t, "systemd/pipeline.yaml")
	creds := map[string]bool{}
	for _, lc := range u["Service.LoadCredential"] {
		name, src, ok := strings.Cut(lc, ":")
		require.True(t, ok, "LoadCredential=%s", lc)
		assert.True(t, filepath.IsAbs(src), "LoadCredential=%s", lc)
		creds[name] = true
	}
	require.NotEmpty(t, files)
	for _, f := range files {
		assert.Equal(t, credentialsDir, filepath.Dir(f), "%s is not a credential of the unit", f)
		assert.True(t, creds[filepath.Base(f)], "no LoadCredential=%s:...", filepath.Base(f))
	}
	envExample, err := os.ReadFile("systemd/dmfpipe.env.example")
	require.NoError(t, err)
	require.NotEmpty(t, envs)
	for _, name := range envs {
		assert.Regexp(t, "(?m)^"+regexp.QuoteMeta(name)+"=", string(envExample))
	}
}

// instruction is one Containerfile instruction with its continuation lines joined.
type instruction struct{ cmd, args string }

func parseContainerfile(t *testing.T, path string) (stages [][]instruction, args map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	args = map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, rest, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(rest), " ")}
		switch {
		case in.cmd == "FROM":
			stages = append(stages, []instruction{in})
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		default:
			require.NotEmpty(t, stages, "%s: %s before FROM", path, in.cmd)
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return stages, args
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func jsonArray(t *testing.T, s string) []string {
	t.Helper()
	var v []string
	require.NoError(t, json.Unmarshal([]byte(s), &v), "exec form expected: %s", s)
	return v
}

func TestContainerfile(t *testing.T) {
	t.Parallel()
	stages, args := parseContainerfile(t, "container/Containerfile")
	require.Len(t, stages, 2, "a build stage and a runtime stage")

	build, runtime := stages[0], stages[1]
	from := strings.ReplaceAll(build[0].args, "${GO_VERSION}", args["GO_VERSION"])
	assert.Regexp(t, `golang:1\.26\S* AS build$`, from)
	assert.Equal(t, goVersion(t), args["GO_VERSION"], "the builder's Go is go.mod's")
	runs := strings.Join(find(build, "RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", `-ldflags "-s -w"`, "-o /out/pipeline ./cmd/pipeline"} {
		assert.Contains(t, runs, want)
	}
	assert.DirExists(t, "../cmd/pipeline", "the package the image builds")

	assert.Contains(t, runtime[0].args, "distroless")
	assert.Contains(t, find(runtime, "COPY"), "--from=build /out/pipeline /usr/local/bin/pipeline")
	users := find(runtime, "USER")
	require.Len(t, users, 1)
	assert.NotRegexp(t, `^(root|0)(:|$)`, users[0])
	assert.Equal(t, []string{"8080"}, find(runtime, "EXPOSE"))
	entrypoint := find(runtime, "ENTRYPOINT")
	require.Len(t, entrypoint, 1)
	assert.Equal(t, []string{"pipeline"}, jsonArray(t, entrypoint[0]))
	cmd := find(runtime, "CMD")
	require.Len(t, cmd, 1)
	assert.Equal(t, []string{"serve", "-c", configPath}, jsonArray(t, cmd[0]))
}

// goVersion is go.mod's language version as major.minor.
func goVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	require.NotNil(t, m, "go directive in go.mod")
	return string(m[1])
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	// Every file the image build needs survives the ignore list: go.mod, go.sum and the
	// non-test Go sources and embedded files of the module.
	for _, keep := range []string{"go.mod", "go.sum", "cmd/pipeline/main.go", "migrations/migrations.go", "examples/pipeline.yaml"} {
		for _, p := range patterns {
			ok, err := filepath.Match(strings.TrimPrefix(p, "**/"), keep)
			require.NoError(t, err)
			assert.False(t, ok || strings.HasPrefix(keep, p+"/"), ".dockerignore pattern %q drops %s", p, keep)
		}
	}
}
