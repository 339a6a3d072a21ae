package testsvc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dmfpipe/dmfpipe/config"
	"github.com/dmfpipe/dmfpipe/internal/devstack"
	"github.com/dmfpipe/dmfpipe/migrations"
)

// require returns the values of vars, which all belong to one service. When one is unset
// it fails the test under CI=true and skips it otherwise.
func require(t testing.TB, service string, vars ...string) []string {
	t.Helper()
	values := make([]string, len(vars))
	var missing []string
	for i, name := range vars {
		values[i] = os.Getenv(name)
		if values[i] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return values
	}
	msg := fmt.Sprintf("%s is not available: %s not set; run the tests with `make test` "+
		"(or `go run ./internal/cmd/testenv run -- go test ./...`), which starts it",
		service, strings.Join(missing, ", "))
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
	return nil
}

// Name returns a name unique to this test and call: lower-case letters, digits and
// hyphens, starting with a letter, at most 48 bytes (fit for a database, a blob
// container or a mail address).
func Name(t testing.TB) string {
	t.Helper()
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 39 {
		base = strings.TrimRight(base[:39], "-")
	}
	return "t" + base + "-" + hex.EncodeToString(suffix[:])
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// Database creates an empty database for the test and returns its URL; the database is
// dropped (WITH (FORCE)) when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	admin := require(t, "PostgreSQL", devstack.EnvDatabaseURL)[0]
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", devstack.EnvDatabaseURL)
	}
	name := Name(t)
	ident := pgx.Identifier{name}.Sanitize()
	execAdmin(t, admin, "CREATE DATABASE "+ident)
	t.Cleanup(func() { execAdmin(t, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	u.Path = "/" + name
	return u.String()
}

// MigratedDatabase creates a database for the test as Database does, brings its schema
// up (migrations.Up) and returns a pool on it, closed when the test ends, and its URL.
// The pool is as large as the product's by default (database.max_conns), which the
// workers need.
func MigratedDatabase(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := Database(t)
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parsing the test database URL: %v", err)
	}
	pc.MaxConns = config.DefaultMaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Up(context.Background(), pool, nil); err != nil {
		t.Fatalf("migrating the test database: %v", err)
	}
	return pool, url
}

func execAdmin(t testing.TB, connURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		t.Fatalf("connecting to %s: %v", devstack.EnvDatabaseURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Azurite returns the connection string of the Azurite Blob emulator.
func Azurite(t testing.TB) (connString string) {
	t.Helper()
	return require(t, "Azurite", devstack.EnvAzuriteConnectionString)[0]
}

// Mailpit returns Mailpit's SMTP address (host:port; any user and password is accepted)
// and the base URL of its HTTP API (messages are listed by GET apiURL+"/api/v1/messages").
func Mailpit(t testing.TB) (smtpAddr, apiURL string) {
	t.Helper()
	v := require(t, "Mailpit", devstack.EnvSMTPAddr, devstack.EnvMailpitURL)
	return v[0], v[1]
}

// Chromium returns the path of a Chromium executable for a browser test to start.
func Chromium(t testing.TB) string {
	t.Helper()
	return require(t, "Chromium", devstack.EnvChromium)[0]
}

// SFTPServer is an SSH server with SFTP on loopback.
type SFTPServer struct {
	// Addr is host:port.
	Addr string
	// User logs in with the private key at KeyPath (OpenSSH format, no passphrase).
	User    string
	KeyPath string
	// KnownHosts is a known_hosts file holding the server's host key for Addr.
	KnownHosts string
	// Root is an absolute path on the server to an empty directory made for this test
	// and removed after it.
	Root string
}

// SFTP returns the SFTP server with a directory of the test's own.
func SFTP(t testing.TB) SFTPServer {
	t.Helper()
	v := require(t, "SFTP (OpenSSH)", devstack.EnvSFTPAddr, devstack.EnvSFTPUser, devstack.EnvSFTPKey,
		devstack.EnvSFTPKnownHosts, devstack.EnvSFTPRoot)
	// The server runs on this machine as this user, so the test's directory is made here.
	root := filepath.Join(v[4], Name(t))
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatalf("making the test's SFTP directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return SFTPServer{Addr: v[0], User: v[1], KeyPath: v[2], KnownHosts: v[3], Root: root}
}
