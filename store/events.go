package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event types recorded in the event log.
const (
	EventAppCreated      = "app:created"
	EventAppDestroyed    = "app:destroyed"
	EventAppRenamed      = "app:renamed"
	EventBuildStarted    = "build:started"
	EventBuildSucceeded  = "build:succeeded"
	EventBuildFailed     = "build:failed"
	EventDeployCreated   = "deploy:created"
	EventDeploySucceeded = "deploy:succeeded"
	EventDeployFailed    = "deploy:failed"
	EventDomainMapped    = "domain:mapped"
	EventDomainUnmapped  = "domain:unmapped"
	EventProcessCrashed  = "process:crashed"
	// EventProcessUnhealthy: a container failed its liveness checks and
	// was replaced.
	EventProcessUnhealthy = "process:unhealthy"
	EventCronFailed       = "cron:failed"
	// EventProcessScaled: ps:scale changed the formation; data "scale"
	// maps each process type to its count.
	EventProcessScaled = "process:scaled"
	// EventProcessStopped and EventProcessStarted: ps:stop and ps:start.
	EventProcessStopped = "process:stopped"
	EventProcessStarted = "process:started"
	// EventProcessRestarted: ps:restart replaced every container.
	EventProcessRestarted = "process:restarted"
	// EventConfigChanged: config:set or config:unset; data "set" and
	// "unset" list the names of the vars, never their values.
	EventConfigChanged = "config:changed"
	// EventDeployRollback: a rollback made release "version" from
	// "target_version"'s image, spec and config.
	EventDeployRollback = "deploy:rollback"
	// EventLimitsChanged: resources APP K=V changed the app's caps.
	EventLimitsChanged = "limits:changed"
	// EventBackupSucceeded and EventBackupFailed: a backup of the whole
	// node (scheduled, or `backup` over SSH); data "file" names a
	// scheduled run's archive, "bytes" its size.
	EventBackupSucceeded = "backup:succeeded"
	EventBackupFailed    = "backup:failed"
)

// EventTypes returns every event type the log can hold: the one list a
// notifier's events filter is checked against. A new Event* constant must
// be added here (TestEventTypesComplete checks it).
func EventTypes() []string {
	return []string{
		EventAppCreated, EventAppDestroyed, EventAppRenamed, EventBuildStarted, EventBuildSucceeded, EventBuildFailed,
		EventDeployCreated, EventDeploySucceeded, EventDeployFailed, EventDomainMapped, EventDomainUnmapped,
		EventProcessCrashed, EventProcessUnhealthy, EventCronFailed, EventKeyAdded, EventKeyRemoved, EventAccessDenied,
		EventTokenCreated, EventTokenRevoked, EventBackupSucceeded, EventBackupFailed,
		EventProcessScaled, EventProcessStopped, EventProcessStarted, EventProcessRestarted, EventConfigChanged,
		EventDeployRollback, EventLimitsChanged,
		EventStorageMounted, EventStorageUnmounted, EventStorageDestroyed,
		EventServiceCreated, EventServiceDestroyed, EventServiceLinked, EventServiceUnlinked, EventServiceCrashed, EventServiceBackedUp, EventServiceRestored, EventServiceBackupFailed,
		EventServiceExposed, EventServiceUpgraded,
		EventGitSynced, EventGitSyncFailed, EventPreviewCreated, EventPreviewsEnabled, EventPreviewsDisabled,
	}
}

// Event is one entry of the append-only event log. App is kept as plain
// text (no foreign key) so history survives the app's deletion. Data is
// stored as JSON, so numbers read back from the database are float64.
type Event struct {
	ID      int64          `json:"id"`
	Type    string         `json:"type"`
	App     string         `json:"app"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
	// Actor is who caused the event: a key's or token's name, "xcloud"
	// for the daemon's own doing, "" for history older than the field.
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

type actorKey struct{}

// WithActor returns ctx carrying actor, the name recorded with every event
// written under it. Both doors (SSH keys, API tokens) set it once per
// request, so no operation needs a "by" argument to be audited.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx, or "xcloud" (the
// daemon acting on its own: crash restarts, cron, reconcile).
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return ActorDaemon
}

// ActorDaemon is the actor of events no person caused.
const ActorDaemon = "xcloud"

// event inserts an event row in the transaction and queues it for the
// OnEvent hook, which runs after commit.
func (tx *wtx) event(ctx context.Context, typ, app, msg string, data map[string]any) (Event, error) {
	e := Event{Type: typ, App: app, Message: msg, Data: data, Actor: ActorFrom(ctx), CreatedAt: now()}
	js := []byte("{}")
	if len(data) > 0 {
		var err error
		if js, err = json.Marshal(data); err != nil {
			return Event{}, fmt.Errorf("encode event data: %w", err)
		}
	}
	err := tx.QueryRowContext(ctx,
		"INSERT INTO events (type, app, message, data, actor, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		typ, app, msg, string(js), e.Actor, toDB(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return Event{}, fmt.Errorf("insert event: %w", err)
	}
	tx.events = append(tx.events, e)
	return e, nil
}

// AddEvent records an event that has no accompanying state change, such as
// process:crashed. ID and CreatedAt are assigned by the store; the app, if
// given, need not exist. OnEvent is called after commit.
func (s *Store) AddEvent(ctx context.Context, e Event) (Event, error) {
	if e.Type == "" {
		return Event{}, fmt.Errorf("add event: empty type")
	}
	var out Event
	err := s.write(ctx, func(tx *wtx) error {
		var err error
		out, err = tx.event(ctx, e.Type, e.App, e.Message, e.Data)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("add event: %w", err)
	}
	return out, nil
}

// ListEvents returns up to limit events with id > afterID in ascending id
// order, for one app or, when app is "", for all apps. limit <= 0 means 100.
// For an app that exists, only the events since it was created are listed:
// an earlier, destroyed app of the same name is not its history (its events
// stay in the list of all apps).
func (s *Store) ListEvents(ctx context.Context, app string, afterID int64, limit int) ([]Event, error) {
	var (
		rows *sql.Rows
		err  error
	)
	const cols = "SELECT id, type, app, message, data, actor, created_at FROM events"
	if app == "" {
		rows, err = s.r.QueryContext(ctx, cols+" WHERE id > ? ORDER BY id LIMIT ?", afterID, clampLimit(limit))
	} else {
		rows, err = s.r.QueryContext(ctx, cols+` WHERE app = ? AND id > ? AND id >= COALESCE(
			(SELECT max(e.id) FROM events e JOIN apps a ON a.name = e.app WHERE e.app = ? AND e.type = '`+EventAppCreated+`'), 0)
			ORDER BY id LIMIT ?`, app, afterID, app, clampLimit(limit))
	}
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e  Event
			js string
			at int64
		)
		if err := rows.Scan(&e.ID, &e.Type, &e.App, &e.Message, &js, &e.Actor, &at); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if js != "" && js != "{}" {
			if err := json.Unmarshal([]byte(js), &e.Data); err != nil {
				return nil, fmt.Errorf("list events: decode data of event %d: %w", e.ID, err)
			}
		}
		e.CreatedAt = fromDB(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// TailStart returns the afterID with which ListEvents yields the app's (or,
// for "", all apps') newest n events: 0 when there are no more than n.
func (s *Store) TailStart(ctx context.Context, app string, n int) (int64, error) {
	var id int64
	var err error
	if app == "" {
		err = s.r.QueryRowContext(ctx, "SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", n).Scan(&id)
	} else {
		err = s.r.QueryRowContext(ctx, "SELECT id FROM events WHERE app = ? ORDER BY id DESC LIMIT 1 OFFSET ?", app, n).Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tail events: %w", err)
	}
	return id, nil
}
