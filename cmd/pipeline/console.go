package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dmfpipe/dmfpipe/internal/argon2id"
)

func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console hash-password",
		Short: "Helpers for the operator console (served by pipeline serve)",
	}
	cmd.AddCommand(newHashPasswordCmd())
	return cmd
}

// minPassword is the shortest password hash-password accepts.
const minPassword = 12

func newHashPasswordCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "Print the Argon2id hash of a password, for console.users[].password_hash",
		Long: `hash-password reads a password and prints its Argon2id hash (a PHC string,
$argon2id$v=19$m=65536,t=3,p=4$...) to put in the config as a console user's
password_hash:

  console:
    users:
      - { name: ada, role: admin, password_hash: "$argon2id$v=19$..." }

On a terminal it asks for the password twice without echoing it; otherwise it reads
the first line of standard input (printf '%s' "$PASSWORD" | pipeline console
hash-password). A password shorter than 12 characters is refused (exit status 64).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			if len([]rune(pw)) < minPassword {
				return usageError(fmt.Errorf("the password is %d characters long: use at least %d", len([]rune(pw)), minPassword))
			}
			h, err := argon2id.Hash(pw, argon2id.Default)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	}
}

// readPassword asks a terminal for the password twice, without echo, or reads the first
// line of standard input.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		pw, err := ask("Password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", usageError(errors.New("the two passwords differ"))
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
