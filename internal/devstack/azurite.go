package devstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// azuriteKey is the well-known key of Azurite's devstoreaccount1 account (public, from
// Azurite's documentation; it protects nothing).
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// Azurite is the Azurite Blob emulator, installed from the npm package pinned in ToolsDir.
type Azurite struct {
	// ToolsDir holds package.json and package-lock.json (tools/azurite in the repository).
	ToolsDir string `json:"tools_dir"`
	// Dir is the directory given to Start; blobs are in Dir/data.
	Dir string `json:"dir"`
	// Port is the Blob endpoint's TCP port on 127.0.0.1.
	Port int `json:"port"`
	// Process is the azurite-blob process.
	Process Process `json:"process"`
}

// NewAzurite returns an Azurite installed from toolsDir.
func NewAzurite(toolsDir string) *Azurite {
	return &Azurite{ToolsDir: toolsDir}
}

// ConnectionString returns the connection string of the devstoreaccount1 account.
func (a *Azurite) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteKey +
		";BlobEndpoint=http://" + loopback(a.Port) + "/devstoreaccount1;"
}

// Env returns EnvAzuriteConnectionString.
func (a *Azurite) Env() map[string]string {
	return map[string]string{EnvAzuriteConnectionString: a.ConnectionString()}
}

// Running reports whether azurite-blob is alive and its port answers.
func (a *Azurite) Running() bool {
	return a.Process.Alive() && portAnswers(a.Port)
}

// Start installs the npm package if needed and starts the Blob service.
func (a *Azurite) Start(ctx context.Context, dir string) error {
	a.Dir = dir
	if err := a.install(ctx); err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	logPath := filepath.Join(dir, "azurite.log")
	return retryExited(func() error {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("azurite: %w", err)
		}
		a.Port = port
		cmd := exec.Command(a.bin(),
			"--blobHost", "127.0.0.1",
			"--blobPort", strconv.Itoa(port),
			"--location", data,
			"--skipApiVersionCheck", // the Go SDK may speak a newer API version than Azurite knows
			"--loose",
			"--silent",
			"--disableTelemetry",
		)
		cmd.Dir = dir
		a.Process, err = spawn(cmd, logPath)
		if err != nil {
			return fmt.Errorf("azurite: %w", err)
		}
		if err := waitReady(ctx, &a.Process, logPath, func(ctx context.Context) error {
			return dial(ctx, loopback(port))
		}); err != nil {
			_ = a.Process.terminate()
			return fmt.Errorf("azurite on port %d: %w", port, err)
		}
		return nil
	})
}

// Stop ends the Blob service.
func (a *Azurite) Stop() error {
	if err := a.Process.terminate(); err != nil {
		return fmt.Errorf("azurite: %w", err)
	}
	return nil
}

func (a *Azurite) bin() string {
	return filepath.Join(a.ToolsDir, "node_modules", ".bin", "azurite-blob")
}

// install runs `npm ci` in ToolsDir when node_modules is missing or older than the lock.
func (a *Azurite) install(ctx context.Context) error {
	lock := filepath.Join(a.ToolsDir, "package-lock.json")
	installed := filepath.Join(a.ToolsDir, "node_modules", ".package-lock.json")
	if _, err := os.Stat(a.bin()); err == nil && !newerThan(lock, installed) {
		return nil
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("azurite: %s is not on PATH (install Node.js 20 or later with npm, "+
				"e.g. apt-get install nodejs npm): %w", tool, ErrNotInstalled)
		}
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = a.ToolsDir
	if err := runLogged(cmd); err != nil {
		return fmt.Errorf("azurite: installing: %w", err)
	}
	return nil
}
