package devstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// mailpitModule is the package built from ModuleDir.
const mailpitModule = "github.com/axllent/mailpit"

// Mailpit is the Mailpit SMTP server with its HTTP API, built from the Go module pinned in
// ModuleDir. Any SMTP user and password is accepted, and chaos (PUT /api/v1/chaos, to make
// it refuse mail) is enabled.
type Mailpit struct {
	// ModuleDir holds the go.mod that pins Mailpit (tools/mailpit in the repository).
	ModuleDir string `json:"module_dir"`
	// Bin is where the binary is built and run from.
	Bin string `json:"bin"`
	// Dir is the directory given to Start; it holds Mailpit's database.
	Dir string `json:"dir"`
	// SMTPPort and HTTPPort are TCP ports on 127.0.0.1.
	SMTPPort int `json:"smtp_port"`
	HTTPPort int `json:"http_port"`
	// Process is the mailpit process.
	Process Process `json:"process"`
}

// NewMailpit returns a Mailpit built from moduleDir into bin.
func NewMailpit(moduleDir, bin string) *Mailpit {
	return &Mailpit{ModuleDir: moduleDir, Bin: bin}
}

// SMTPAddr returns the SMTP server's host:port.
func (m *Mailpit) SMTPAddr() string { return loopback(m.SMTPPort) }

// APIURL returns the base URL of the web UI and API (the API is under /api/v1).
func (m *Mailpit) APIURL() string { return "http://" + loopback(m.HTTPPort) }

// Env returns EnvSMTPAddr and EnvMailpitURL.
func (m *Mailpit) Env() map[string]string {
	return map[string]string{EnvSMTPAddr: m.SMTPAddr(), EnvMailpitURL: m.APIURL()}
}

// Running reports whether mailpit is alive and both its ports answer.
func (m *Mailpit) Running() bool {
	return m.Process.Alive() && portAnswers(m.SMTPPort) && portAnswers(m.HTTPPort)
}

// Start builds Mailpit if needed and starts it.
func (m *Mailpit) Start(ctx context.Context, dir string) error {
	m.Dir = dir
	if err := m.build(ctx); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "mailpit.log")
	return retryExited(func() error {
		smtpPort, err := freePort()
		if err != nil {
			return fmt.Errorf("mailpit: %w", err)
		}
		httpPort, err := freePort()
		if err != nil {
			return fmt.Errorf("mailpit: %w", err)
		}
		m.SMTPPort, m.HTTPPort = smtpPort, httpPort
		cmd := exec.Command(m.Bin,
			"--smtp", m.SMTPAddr(),
			"--listen", loopback(httpPort),
			"--database", filepath.Join(dir, "mailpit.db"),
			"--smtp-auth-accept-any",
			"--smtp-auth-allow-insecure",
			"--smtp-disable-rdns", // no DNS here; a lookup per message would only wait
			"--disable-version-check",
			"--enable-chaos",
			"--max", "10000",
			"--quiet",
		)
		cmd.Dir = dir
		m.Process, err = spawn(cmd, logPath)
		if err != nil {
			return fmt.Errorf("mailpit: %w", err)
		}
		if err := waitReady(ctx, &m.Process, logPath, m.ready); err != nil {
			_ = m.Process.terminate()
			return fmt.Errorf("mailpit on ports %d (SMTP) and %d (HTTP): %w", smtpPort, httpPort, err)
		}
		return nil
	})
}

// Stop ends Mailpit.
func (m *Mailpit) Stop() error {
	if err := m.Process.terminate(); err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	return nil
}

func (m *Mailpit) ready(ctx context.Context) error {
	if err := dial(ctx, m.SMTPAddr()); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.APIURL()+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s", resp.Status)
	}
	return nil
}

// build runs `go build` in ModuleDir when Bin is missing or older than the go.mod.
func (m *Mailpit) build(ctx context.Context) error {
	if _, err := os.Stat(m.Bin); err == nil && !newerThan(filepath.Join(m.ModuleDir, "go.mod"), m.Bin) {
		return nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return fmt.Errorf("mailpit: go is not on PATH: %w", ErrNotInstalled)
	}
	if err := os.MkdirAll(filepath.Dir(m.Bin), 0o755); err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	// Build next to Bin and rename, so that an interrupted build leaves no broken binary.
	tmp := m.Bin + ".tmp" + strconv.Itoa(os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, mailpitModule)
	cmd.Dir = m.ModuleDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if err := runLogged(cmd); err != nil {
		return fmt.Errorf("mailpit: building: %w", err)
	}
	if err := os.Rename(tmp, m.Bin); err != nil {
		return fmt.Errorf("mailpit: %w", err)
	}
	return nil
}
