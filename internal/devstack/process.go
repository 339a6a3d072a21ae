package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled is wrapped by Start errors when a tool the service needs is missing and
// the stack may not install it (for example sshd when not running as root).
var ErrNotInstalled = errors.New("not installed")

// errExited reports that a service process ended before it was ready; Start retries with
// fresh ports since the usual cause is a port taken between picking it and binding it.
var errExited = errors.New("exited before it was ready")

// startAttempts bounds the retries of errExited.
const startAttempts = 3

// readyTimeout bounds the wait for a started process to accept connections.
const readyTimeout = 60 * time.Second

// Process identifies a service process. StartTicks, the process start time from
// /proc/PID/stat, tells the process apart from a later one that got the same PID.
type Process struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`

	// done is closed when the child exits; set only in the process that started it,
	// which must reap it (a zombie still answers kill(pid, 0)).
	done chan struct{}
}

// ProcessOf returns the identity of the running process pid.
func ProcessOf(pid int) (Process, error) {
	ticks, _, err := procStat(pid)
	if err != nil {
		return Process{}, err
	}
	return Process{PID: pid, StartTicks: ticks}, nil
}

// Alive reports whether the process still runs (a zombie counts as ended).
func (p *Process) Alive() bool {
	if p == nil || p.PID <= 0 {
		return false
	}
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	ticks, state, err := procStat(p.PID)
	if err != nil || ticks != p.StartTicks {
		return false
	}
	switch state {
	case 'X':
		return false
	case 'Z':
		// A zombie leader whose other threads still run has not let go of its ports yet.
		tasks, err := os.ReadDir("/proc/" + strconv.Itoa(p.PID) + "/task")
		return err == nil && len(tasks) > 1
	}
	return true
}

// signalGroup sends sig to the process group the process leads (every service is started
// with Setsid), so that children it forked get it too.
func (p *Process) signalGroup(sig syscall.Signal) {
	if !p.Alive() {
		return
	}
	if err := syscall.Kill(-p.PID, sig); err != nil {
		_ = syscall.Kill(p.PID, sig)
	}
}

// waitExit waits up to timeout for the process and the rest of its process group (children
// that may hold its sockets) to end, and reports whether they did.
func (p *Process) waitExit(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for p.Alive() || groupAlive(p.PID) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// terminate ends the process group: SIGTERM, then SIGKILL after ten seconds.
func (p *Process) terminate() error {
	if !p.Alive() {
		return nil
	}
	p.signalGroup(syscall.SIGTERM)
	if p.waitExit(10 * time.Second) {
		return nil
	}
	p.signalGroup(syscall.SIGKILL)
	if p.waitExit(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("process %d did not exit after SIGKILL", p.PID)
}

// groupAlive reports whether a process of group pgid, other than a zombie, still runs.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fields, err := statFields(pid)
		if err == nil && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" && fields[0] != "X" {
			return true
		}
	}
	return false
}

// procStat reads the start time and state of pid from /proc/PID/stat.
func procStat(pid int) (startTicks uint64, state byte, err error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, 0, err
	}
	startTicks, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parsing /proc/%d/stat start time: %w", pid, err)
	}
	return startTicks, fields[0][0], nil
}

// statFields returns the fields of /proc/PID/stat from the third (state) on: [0] is the
// state, [2] the process group, [19] the start time.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("parsing /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return nil, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

// spawn starts cmd in a session of its own with stdin from /dev/null and stdout and stderr
// appended to logPath, and reaps it in the background.
func spawn(cmd *exec.Cmd, logPath string) (Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Process{}, fmt.Errorf("opening log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		return Process{}, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p := Process{PID: cmd.Process.Pid, done: done}
	if ticks, _, err := procStat(p.PID); err == nil {
		p.StartTicks = ticks
	}
	return p, nil
}

// waitReady polls check until it succeeds, the process exits (errExited, with the end of
// its log), ctx ends or readyTimeout passes.
func waitReady(ctx context.Context, p *Process, logPath string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if !p.Alive() {
			return fmt.Errorf("%w; log:\n%s", errExited, logTail(logPath))
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last check: %v); log:\n%s", ctx.Err(), last, logTail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// retryExited runs start up to startAttempts times while it fails with errExited.
func retryExited(start func() error) error {
	var err error
	for range startAttempts {
		if err = start(); !errors.Is(err, errExited) {
			return err
		}
	}
	return err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dial checks that addr accepts TCP connections.
func dial(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// loopback returns 127.0.0.1:port.
func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// portAnswers reports whether something accepts connections on 127.0.0.1:port.
func portAnswers(port int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return port > 0 && dial(ctx, loopback(port)) == nil
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return strings.TrimSpace(string(b))
}

// runLogged runs cmd with its output captured, returning an error with the end of that
// output when it fails.
func runLogged(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		const keep = 2000
		if len(out) > keep {
			out = out[len(out)-keep:]
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newerThan reports whether file a was modified after file b, or b is missing.
func newerThan(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return true
	}
	return sa.ModTime().After(sb.ModTime())
}
