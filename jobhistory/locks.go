package jobhistory

import (
	"context"
	"fmt"

	"github.com/dmfpipe/dmfpipe/internal/lockkey"
)

// The advisory locks the stages take (keys in internal/lockkey).

// LockDiscover serialises the takes of project's files until the transaction ends: two
// discovers of one project (a tick and a run-now, on two nodes) must not both take a
// file. The Store must be on a transaction.
func (s *Store) LockDiscover(ctx context.Context, project string) error {
	return s.xactLock(ctx, lockkey.Discover(project), "locking the discovery of project "+project)
}

// LockJobChunks serialises the ends of a job's chunks until the transaction ends, so that
// the last chunk to end sees the others. The Store must be on a transaction.
func (s *Store) LockJobChunks(ctx context.Context, job int64) error {
	return s.xactLock(ctx, lockkey.Chunks(job), fmt.Sprintf("locking the chunks of job %d", job))
}

func (s *Store) xactLock(ctx context.Context, key lockkey.Key, what string) error {
	if _, err := s.db.Exec(ctx, `SELECT pg_advisory_xact_lock(`+key.SQL(1)+`)`, key.Arg()); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// LockGroup takes the cluster-wide lock of a definition group of an environment, waiting
// for it until ctx ends; F&O does not support concurrent imports into one data project,
// whichever node sends them. It is a session lock: the Store must be on a connection kept
// for the call, and UnlockGroup releases it.
func (s *Store) LockGroup(ctx context.Context, environment, group string) error {
	key := lockkey.Group(environment, group)
	if _, err := s.db.Exec(ctx, `SELECT pg_advisory_lock(`+key.SQL(1)+`)`, key.Arg()); err != nil {
		return fmt.Errorf("locking definition group %s: %w", group, err)
	}
	return nil
}

// UnlockGroup releases a lock LockGroup took on the same connection.
func (s *Store) UnlockGroup(ctx context.Context, environment, group string) error {
	key := lockkey.Group(environment, group)
	if _, err := s.db.Exec(ctx, `SELECT pg_advisory_unlock(`+key.SQL(1)+`)`, key.Arg()); err != nil {
		return fmt.Errorf("unlocking definition group %s: %w", group, err)
	}
	return nil
}
