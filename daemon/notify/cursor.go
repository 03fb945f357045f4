package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cursor is a notifier's delivery position: the id of the last event it
// finished with (delivered or given up on), in a small file rewritten
// atomically, so a crash leaves either the old or the new value.
type cursor struct {
	path string
	last int64
}

func cursorPath(dir, name string) string { return filepath.Join(dir, name+".cursor") }

// load reads the cursor; ok is false when there is none yet.
func (c *cursor) load() (id int64, ok bool, err error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read cursor: %w", err)
	}
	id, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("read cursor %s: %w", c.path, err)
	}
	c.last = id
	return id, true, nil
}

// advance moves the cursor to id unless it is already past it.
func (c *cursor) advance(id int64) error {
	if id <= c.last {
		return nil
	}
	return c.store(id)
}

func (c *cursor) store(id int64) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(id, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("write cursor: %w", err)
	}
	c.last = id
	return nil
}
