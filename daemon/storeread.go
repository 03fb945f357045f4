package daemon

import (
	"context"

	"github.com/xcloud-dev/xcloud/store"
)

// storeRead keeps what a read of the store returned until a write commits
// (store.Version): the loops that look at every app each second read
// SQLite again only when something changed, and an idle daemon with many
// apps makes no garbage for them (27 KB a second at 50 apps). What get
// returns is shared with later calls: read it, do not change it.
type storeRead[T any] struct {
	version uint64
	ok      bool
	v       T
}

// get returns the last read's result, reading again when the store has
// changed since or the last read failed.
func (c *storeRead[T]) get(ctx context.Context, st *store.Store, read func(context.Context) (T, error)) (T, error) {
	v := st.Version() // before the read: a write during it means another read
	if c.ok && v == c.version {
		return c.v, nil
	}
	got, err := read(ctx)
	if err != nil {
		c.ok = false
		return got, err
	}
	c.version, c.ok, c.v = v, true, got
	return got, nil
}
