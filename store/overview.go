package store

import (
	"context"
	"database/sql"
	"fmt"
)

// AppOverview is an app with what apps:list shows of it, read for every
// app in a few queries instead of a few queries an app.
type AppOverview struct {
	App App
	// LastDeploy is the status of the app's newest release; "" for none.
	LastDeploy ReleaseStatus
	// Current is the active release, its Config left unread; zero when
	// App.CurrentRelease is 0.
	Current Release
	// Domains are the app's custom domains, sorted; empty for none.
	Domains []string
	// Formation is the app's scale of each process type it was given.
	Formation map[string]int
}

// AppOverviews returns every app with its newest release's status, its
// active release, its domains and its formation, ordered by name: five
// queries in one read transaction whatever the number of apps.
func (s *Store) AppOverviews(ctx context.Context) ([]AppOverview, error) {
	var out []AppOverview
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = appOverviews(ctx, tx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

// GetAppOverview is AppOverviews for one app; an unknown name wraps
// ErrNotFound.
func (s *Store) GetAppOverview(ctx context.Context, name string) (AppOverview, error) {
	var out []AppOverview
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = appOverviews(ctx, tx, name)
		return err
	})
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return AppOverview{}, fmt.Errorf("get app %q: %w", name, err)
	}
	return out[0], nil
}

// appOverviews reads the overviews of every app, or of the app named one
// when one is not "".
func appOverviews(ctx context.Context, tx *sql.Tx, one string) ([]AppOverview, error) {
	// where filters a table by its app column; the apps table's is name.
	where := func(col string) (string, []any) {
		if one == "" {
			return "", nil
		}
		return " WHERE " + col + " = ?", []any{one}
	}
	w, args := where("name")
	rows, err := tx.QueryContext(ctx, "SELECT "+appCols+" FROM apps"+w+" ORDER BY name", args...)
	if err != nil {
		return nil, err
	}
	var out []AppOverview
	index := map[string]int{}
	err = eachRow(rows, func() error {
		a, err := scanApp(rows)
		if err != nil {
			return err
		}
		index[a.Name] = len(out)
		out = append(out, AppOverview{App: a, Domains: []string{}, Formation: map[string]int{}})
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	at := func(app string) *AppOverview {
		if i, ok := index[app]; ok {
			return &out[i]
		}
		return nil // cannot happen in one transaction: children reference apps
	}

	// The newest release is the one with the highest version, which the
	// (app, version) unique index finds per app.
	w, args = where("app")
	rows, err = tx.QueryContext(ctx, "SELECT r.app, r.status FROM releases r JOIN"+
		" (SELECT app, MAX(version) AS version FROM releases"+w+" GROUP BY app) n"+
		" ON r.app = n.app AND r.version = n.version", args...)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		var app string
		var status ReleaseStatus
		if err := rows.Scan(&app, &status); err != nil {
			return err
		}
		if o := at(app); o != nil {
			o.LastDeploy = status
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// The sealed config snapshot is not needed to list apps: left unread.
	w, args = where("app")
	if w == "" {
		w = " WHERE status = 'active'"
	} else {
		w += " AND status = 'active'"
	}
	rows, err = tx.QueryContext(ctx, "SELECT id, app, version, COALESCE(build_id, 0), image, commit_sha, status,"+
		" description, error, spec, NULL, created_at FROM releases"+w, args...)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		r, err := scanRelease(rows)
		if err != nil {
			return err
		}
		if o := at(r.App); o != nil {
			o.Current = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, o := range out {
		if o.App.CurrentRelease > 0 && o.Current.Version == 0 {
			return nil, fmt.Errorf("current release of %q: %w", o.App.Name, ErrNotFound)
		}
	}

	w, args = where("app")
	rows, err = tx.QueryContext(ctx, "SELECT app, host FROM domains"+w+" ORDER BY app, host", args...)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		var app, host string
		if err := rows.Scan(&app, &host); err != nil {
			return err
		}
		if o := at(app); o != nil {
			o.Domains = append(o.Domains, host)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	w, args = where("app")
	rows, err = tx.QueryContext(ctx, "SELECT app, type, quantity FROM formation"+w, args...)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		var app, typ string
		var n int
		if err := rows.Scan(&app, &typ, &n); err != nil {
			return err
		}
		if o := at(app); o != nil {
			o.Formation[typ] = n
		}
		return nil
	})
	return out, err
}

// eachRow calls fn for each of rows and closes them.
func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}
