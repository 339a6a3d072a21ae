package devstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Chromium is the headless browser of the console's browser tests. It is a tool, not a
// server: Start finds it (installing Debian's chromium package when it is missing and the
// stack runs as root), Running reports whether it is still there, Stop does nothing.
type Chromium struct {
	// Path is the browser's executable.
	Path string
}

// NewChromium returns a Chromium to Start.
func NewChromium() *Chromium { return &Chromium{} }

// chromiumNames are the executables tried, in order: Debian's package, then the names
// other distributions and Google's build use.
var chromiumNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// chromiumPackages are what Start installs: the browser and a font family, so that pages
// in screenshots have readable text.
var chromiumPackages = []string{"chromium", "fonts-liberation"}

// Start finds the browser, installing it when missing and root.
func (c *Chromium) Start(ctx context.Context, _ string) error {
	if p, ok := findChromium(); ok {
		c.Path = p
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("chromium: no Chromium found (tried %s); install it as root with `apt-get install %s` "+
			"(the stack installs it itself when run as root): %w",
			strings.Join(chromiumNames, ", "), strings.Join(chromiumPackages, " "), ErrNotInstalled)
	}
	if err := aptInstall(ctx, chromiumPackages...); err != nil {
		return fmt.Errorf("chromium: %w", err)
	}
	p, ok := findChromium()
	if !ok {
		return fmt.Errorf("chromium: %s installed, but no executable of %s is there", strings.Join(chromiumPackages, " "),
			strings.Join(chromiumNames, ", "))
	}
	c.Path = p
	return nil
}

// Running reports whether the executable is still there.
func (c *Chromium) Running() bool {
	st, err := os.Stat(c.Path)
	return c.Path != "" && err == nil && !st.IsDir()
}

// Stop does nothing: nothing runs until a test starts the browser.
func (c *Chromium) Stop() error { return nil }

// Env implements Service.
func (c *Chromium) Env() map[string]string { return map[string]string{EnvChromium: c.Path} }

func findChromium() (string, bool) {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// aptInstall installs Debian packages with apt-get (as root), updating the package lists
// first.
func aptInstall(ctx context.Context, packages ...string) error {
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	update := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update")
	update.Env = env
	if err := runLogged(update); err != nil {
		return fmt.Errorf("installing %s: %w", strings.Join(packages, " "), err)
	}
	install := exec.CommandContext(ctx, "apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300",
		"install", "-y", "--no-install-recommends"}, packages...)...)
	install.Env = env
	if err := runLogged(install); err != nil {
		return fmt.Errorf("installing %s: %w", strings.Join(packages, " "), err)
	}
	return nil
}
