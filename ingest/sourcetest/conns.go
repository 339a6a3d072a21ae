package sourcetest

import (
	"context"
	"net"
	"sync"
)

// Conns dials a source's TCP connections and can close all of them at once: the
// dropped connection a Breaker simulates.
type Conns struct {
	mu    sync.Mutex
	conns []net.Conn
	dials int
}

// Dial dials and tracks a connection; it fits net.Dialer.DialContext's signature.
func (c *Conns) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.mu.Lock()
		c.conns = append(c.conns, conn)
		c.dials++
		c.mu.Unlock()
	}
	return conn, err
}

// CloseAll closes every connection dialed so far.
func (c *Conns) CloseAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// Dials is how many connections were dialed.
func (c *Conns) Dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}
