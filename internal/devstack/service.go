package devstack

import "context"

// Environment variables through which the services reach the tests (see internal/testsvc).
const (
	// EnvDatabaseURL is the URL of a PostgreSQL database on which the tests may create
	// and drop databases.
	EnvDatabaseURL = "PIPELINE_TEST_DATABASE_URL"
	// EnvAzuriteConnectionString is an Azure Storage connection string for Azurite.
	EnvAzuriteConnectionString = "PIPELINE_TEST_AZURITE_CONNECTION_STRING"
	// EnvSMTPAddr is Mailpit's SMTP host:port.
	EnvSMTPAddr = "PIPELINE_TEST_SMTP_ADDR"
	// EnvMailpitURL is the base URL of Mailpit's HTTP API (http://host:port).
	EnvMailpitURL = "PIPELINE_TEST_MAILPIT_URL"
	// EnvSFTPAddr is the SSH server's host:port.
	EnvSFTPAddr = "PIPELINE_TEST_SFTP_ADDR"
	// EnvSFTPUser is the user the tests log in as.
	EnvSFTPUser = "PIPELINE_TEST_SFTP_USER"
	// EnvSFTPKey is the path of the client's private key (OpenSSH PEM, no passphrase).
	EnvSFTPKey = "PIPELINE_TEST_SFTP_KEY"
	// EnvSFTPKnownHosts is the path of a known_hosts file holding the server's host key.
	EnvSFTPKnownHosts = "PIPELINE_TEST_SFTP_KNOWN_HOSTS"
	// EnvSFTPRoot is an absolute directory on the server the tests may write in.
	EnvSFTPRoot = "PIPELINE_TEST_SFTP_ROOT"
	// EnvChromium is the path of a Chromium executable for the browser tests.
	EnvChromium = "PIPELINE_TEST_CHROMIUM"
)

// Service is one service process of the stack. Constructors only allocate; Start does the
// work. The exported fields of an implementation are its state and are JSON-encodable.
type Service interface {
	// Start installs what is missing, starts the service with its files in dir (which must
	// exist) and returns once it accepts connections.
	Start(ctx context.Context, dir string) error
	// Running reports whether the process is alive and its port answers.
	Running() bool
	// Stop ends the service and waits for it to exit. The caller removes dir.
	Stop() error
	// Env returns the environment variables that point the tests at the service.
	Env() map[string]string
}

var (
	_ Service = (*Postgres)(nil)
	_ Service = (*Azurite)(nil)
	_ Service = (*Mailpit)(nil)
	_ Service = (*SSHD)(nil)
	_ Service = (*Chromium)(nil)
)
