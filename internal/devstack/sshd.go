package devstack

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdPath is where Debian's openssh-server puts sshd.
const sshdPath = "/usr/sbin/sshd"

// SSHD is an OpenSSH server for SFTP tests, run by the current user with its own host key
// and config: only the generated client key logs in, as the current user, and SFTP is
// served in-process (internal-sftp).
type SSHD struct {
	// Dir is the directory given to Start: keys, config, known_hosts and Root.
	Dir string `json:"dir"`
	// Port is the TCP port on 127.0.0.1.
	Port int `json:"port"`
	// User is the user that logs in (the one that started the server).
	User string `json:"user"`
	// Process is the listening sshd.
	Process Process `json:"process"`
}

// NewSSHD returns an SSHD.
func NewSSHD() *SSHD { return &SSHD{} }

// Addr returns the server's host:port.
func (s *SSHD) Addr() string { return loopback(s.Port) }

// KeyPath returns the path of the client's private key.
func (s *SSHD) KeyPath() string { return filepath.Join(s.Dir, "client_ed25519") }

// KnownHostsPath returns the path of a known_hosts file with the server's host key.
func (s *SSHD) KnownHostsPath() string { return filepath.Join(s.Dir, "known_hosts") }

// Root returns an absolute directory that User may write in.
func (s *SSHD) Root() string { return filepath.Join(s.Dir, "root") }

// Env returns the EnvSFTP* variables.
func (s *SSHD) Env() map[string]string {
	return map[string]string{
		EnvSFTPAddr:       s.Addr(),
		EnvSFTPUser:       s.User,
		EnvSFTPKey:        s.KeyPath(),
		EnvSFTPKnownHosts: s.KnownHostsPath(),
		EnvSFTPRoot:       s.Root(),
	}
}

// Running reports whether sshd is alive and its port answers.
func (s *SSHD) Running() bool {
	return s.Process.Alive() && portAnswers(s.Port)
}

// Start installs openssh-server if needed (as root), writes keys and config to dir and
// starts sshd.
func (s *SSHD) Start(ctx context.Context, dir string) error {
	s.Dir = dir
	bin, err := findSSHD(ctx)
	if err != nil {
		return err
	}
	u, err := user.Current()
	if err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	s.User = u.Username
	if os.Geteuid() == 0 {
		// sshd's privilege separation needs this; systemd makes it on a booted machine.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return fmt.Errorf("sshd: %w", err)
		}
	}
	if err := os.MkdirAll(s.Root(), 0o755); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	hostKey, err := writeKey(filepath.Join(dir, "host_ed25519"))
	if err != nil {
		return fmt.Errorf("sshd: host key: %w", err)
	}
	clientKey, err := writeKey(s.KeyPath())
	if err != nil {
		return fmt.Errorf("sshd: client key: %w", err)
	}
	authorized := s.KeyPath() + ".pub"
	if err := os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientKey), 0o644); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	logPath := filepath.Join(dir, "sshd.log")
	return retryExited(func() error {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("sshd: %w", err)
		}
		s.Port = port
		known := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, hostKey) + "\n"
		if err := os.WriteFile(s.KnownHostsPath(), []byte(known), 0o644); err != nil {
			return fmt.Errorf("sshd: %w", err)
		}
		config := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(config, []byte(s.config(filepath.Join(dir, "host_ed25519"), authorized)), 0o644); err != nil {
			return fmt.Errorf("sshd: %w", err)
		}
		// sshd re-executes itself and so must be started by absolute path.
		cmd := exec.Command(bin, "-D", "-e", "-f", config)
		cmd.Dir = dir
		s.Process, err = spawn(cmd, logPath)
		if err != nil {
			return fmt.Errorf("sshd: %w", err)
		}
		if err := waitReady(ctx, &s.Process, logPath, s.banner); err != nil {
			_ = s.Process.terminate()
			return fmt.Errorf("sshd on port %d: %w", port, err)
		}
		return nil
	})
}

// Stop ends sshd and its sessions.
func (s *SSHD) Stop() error {
	if err := s.Process.terminate(); err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	return nil
}

func (s *SSHD) config(hostKey, authorizedKeys string) string {
	lines := []string{
		"ListenAddress " + s.Addr(),
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorizedKeys,
		"AllowUsers " + s.User,
		"UsePAM no",
		"StrictModes no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password", // CI runs as root
		"Subsystem sftp internal-sftp",
		"LogLevel ERROR",
	}
	return strings.Join(lines, "\n") + "\n"
}

// banner checks that the server greets with an SSH version line.
func (s *SSHD) banner(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(deadline)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// findSSHD returns sshd's path, installing openssh-server first when missing and root.
func findSSHD(ctx context.Context) (string, error) {
	if _, err := os.Stat(sshdPath); err == nil {
		return sshdPath, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("sshd: %s is missing; install it as root with "+
			"`apt-get install openssh-server` (the stack installs it itself when run as root): %w",
			sshdPath, ErrNotInstalled)
	}
	if err := aptInstall(ctx, "openssh-server"); err != nil {
		return "", fmt.Errorf("sshd: %w", err)
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return "", errors.New("sshd: openssh-server is installed but " + sshdPath + " is missing")
	}
	return sshdPath, nil
}

// writeKey generates an ed25519 key, writes it in OpenSSH format to path (mode 0600, as
// sshd and ssh demand) and returns its public half.
func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "dmfpipe-test")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}
