package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Service events. App is the linked app for the link events, "" otherwise.
const (
	// EventServiceCreated: services:create; data "service", "type".
	EventServiceCreated = "service:created"
	// EventServiceDestroyed: services:destroy; data "service", "type".
	EventServiceDestroyed = "service:destroyed"
	// EventServiceLinked: services:link; data "service", "var".
	EventServiceLinked = "service:linked"
	// EventServiceUnlinked: services:unlink; data "service", "var".
	EventServiceUnlinked = "service:unlinked"
	// EventServiceCrashed: a service's container exited on its own; data
	// "service", "exit_code", "restarts".
	EventServiceCrashed = "service:crashed"
	// EventServiceBackedUp: a dump was taken (services:backup, or on
	// schedule); data "service".
	EventServiceBackedUp = "service:backed-up"
	// EventServiceRestored: services:restore replaced the data; data "service".
	EventServiceRestored = "service:restored"
	// EventServiceBackupFailed: a scheduled dump failed; data "service",
	// "error".
	EventServiceBackupFailed = "service:backup-failed"
	// EventServiceExposed: services:expose published the service's port
	// on the host, or took it off; data "service", "address" ("" off).
	EventServiceExposed = "service:exposed"
	// EventServiceUpgraded: services:upgrade moved the data to a newer
	// major; data "service", "from", "to".
	EventServiceUpgraded = "service:upgraded"
)

// Service types.
const (
	ServicePostgres = "postgres"
	ServiceRedis    = "redis"
)

// ServiceTypes lists the service types, in the order help shows them.
func ServiceTypes() []string { return []string{ServicePostgres, ServiceRedis} }

// Service is a database service (services:create).
type Service struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Password []byte `json:"-"` // sealed by the daemon
	// MemoryBytes caps the container; 0 takes the daemon's default.
	MemoryBytes  int64     `json:"memory_bytes"`
	CreatedAt    time.Time `json:"created_at"`
	LastBackupAt time.Time `json:"last_backup_at"`
	// BackupSchedule is when dumps are stored (cron; "" never) and
	// BackupKeep how many stored dumps are kept.
	BackupSchedule string `json:"backup_schedule"`
	BackupKeep     int    `json:"backup_keep"`
	// Expose is the host address (IP:PORT) the service's port is
	// published on; "" publishes none.
	Expose string `json:"expose"`
	// Major is the major version the service's data is of (17 for
	// PostgreSQL 17); 0 takes the daemon's default for the type.
	Major int `json:"major"`
	// Volume holds the data; "" is the volume named after the service.
	Volume string `json:"volume"`
}

// ServiceLink is a service linked to an app through the config var Var.
type ServiceLink struct {
	Service   string    `json:"service"`
	App       string    `json:"app"`
	Var       string    `json:"var"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidateServiceName reports whether name is a valid service name: the
// rule of app names, as it becomes a host name on the apps' networks. The
// returned error wraps ErrInvalidName and states the rule.
func ValidateServiceName(name string) error {
	if !validAppName(name) {
		return invalidNameError(fmt.Sprintf(
			"invalid service name %q: must match %s (lowercase letter first, then lowercase letters, digits or '-', not ending in '-', at most 63 characters)",
			name, appNamePattern))
	}
	return nil
}

const serviceCols = "name, type, password, memory, created_at, last_backup_at, backup_schedule, backup_keep, expose, major, volume"

func scanService(r rowScanner) (Service, error) {
	var (
		s          Service
		at, backup int64
	)
	if err := r.Scan(&s.Name, &s.Type, &s.Password, &s.MemoryBytes, &at, &backup, &s.BackupSchedule, &s.BackupKeep, &s.Expose, &s.Major, &s.Volume); err != nil {
		return Service{}, err
	}
	s.CreatedAt, s.LastBackupAt = fromDB(at), fromDB(backup)
	return s, nil
}

// CreateService records a new service and service:created. It returns an
// error wrapping ErrExists when the name is taken and ErrInvalidName for a
// bad name.
func (s *Store) CreateService(ctx context.Context, svc Service) (Service, error) {
	if err := ValidateServiceName(svc.Name); err != nil {
		return Service{}, fmt.Errorf("create service: %w", err)
	}
	svc.CreatedAt = now()
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO services (name, type, password, memory, created_at, expose, major, volume) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			svc.Name, svc.Type, svc.Password, svc.MemoryBytes, toDB(svc.CreatedAt), svc.Expose, svc.Major, svc.Volume); err != nil {
			return translate(err)
		}
		_, err := tx.event(ctx, EventServiceCreated, "", fmt.Sprintf("%s service %s created", svc.Type, svc.Name),
			map[string]any{"service": svc.Name, "type": svc.Type})
		return err
	})
	if err != nil {
		return Service{}, fmt.Errorf("create service %s: %w", svc.Name, err)
	}
	return svc, nil
}

// GetService returns a service; an error wrapping ErrNotFound when there
// is none by that name.
func (s *Store) GetService(ctx context.Context, name string) (Service, error) {
	var svc Service
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		svc, err = scanService(tx.QueryRowContext(ctx, "SELECT "+serviceCols+" FROM services WHERE name = ?", name))
		return translate(err)
	})
	if err != nil {
		return Service{}, fmt.Errorf("service %s: %w", name, err)
	}
	return svc, nil
}

// ListServices returns every service by name.
func (s *Store) ListServices(ctx context.Context) ([]Service, error) {
	var out []Service
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+serviceCols+" FROM services ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			svc, err := scanService(rows)
			if err != nil {
				return err
			}
			out = append(out, svc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// DeleteService removes a service and records service:destroyed. It
// returns an error wrapping ErrNotFound when there is none and
// ErrConflict while an app is linked to it.
func (s *Store) DeleteService(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		svc, err := scanService(tx.QueryRowContext(ctx, "SELECT "+serviceCols+" FROM services WHERE name = ?", name))
		if err != nil {
			return translate(err)
		}
		var links int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM service_links WHERE service = ?", name).Scan(&links); err != nil {
			return err
		}
		if links > 0 {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM services WHERE name = ?", name); err != nil {
			return err
		}
		_, err = tx.event(ctx, EventServiceDestroyed, "", fmt.Sprintf("%s service %s destroyed", svc.Type, name),
			map[string]any{"service": name, "type": svc.Type})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete service %s: %w", name, err)
	}
	return nil
}

// LinkService records a link and service:linked. It returns an error
// wrapping ErrNotFound for an unknown service or app and ErrExists when
// they are linked already or the app has another link setting the same
// config var.
func (s *Store) LinkService(ctx context.Context, l ServiceLink) (ServiceLink, error) {
	l.CreatedAt = now()
	err := s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, l.App); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO service_links (service, app, var, created_at) VALUES (?, ?, ?, ?)",
			l.Service, l.App, l.Var, toDB(l.CreatedAt)); err != nil {
			return translate(err)
		}
		_, err := tx.event(ctx, EventServiceLinked, l.App, fmt.Sprintf("service %s linked as %s", l.Service, l.Var),
			map[string]any{"service": l.Service, "var": l.Var})
		return err
	})
	if err != nil {
		return ServiceLink{}, fmt.Errorf("link service %s to %s: %w", l.Service, l.App, err)
	}
	return l, nil
}

// UnlinkService removes a link and records service:unlinked. It returns
// an error wrapping ErrNotFound when there is no such link.
func (s *Store) UnlinkService(ctx context.Context, service, app string) error {
	err := s.write(ctx, func(tx *wtx) error {
		var v string
		err := tx.QueryRowContext(ctx, "SELECT var FROM service_links WHERE service = ? AND app = ?", service, app).Scan(&v)
		if err != nil {
			return translate(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM service_links WHERE service = ? AND app = ?", service, app); err != nil {
			return err
		}
		_, err = tx.event(ctx, EventServiceUnlinked, app, fmt.Sprintf("service %s unlinked (%s)", service, v),
			map[string]any{"service": service, "var": v})
		return err
	})
	if err != nil {
		return fmt.Errorf("unlink service %s from %s: %w", service, app, err)
	}
	return nil
}

// ServiceLinks returns the links of service (all links when service is
// ""), by service and app.
func (s *Store) ServiceLinks(ctx context.Context, service string) ([]ServiceLink, error) {
	var out []ServiceLink
	err := s.read(ctx, func(tx *sql.Tx) error {
		q := "SELECT service, app, var, created_at FROM service_links"
		var args []any
		if service != "" {
			q += " WHERE service = ?"
			args = append(args, service)
		}
		rows, err := tx.QueryContext(ctx, q+" ORDER BY service, app", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l  ServiceLink
				at int64
			)
			if err := rows.Scan(&l.Service, &l.App, &l.Var, &at); err != nil {
				return err
			}
			l.CreatedAt = fromDB(at)
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("service links: %w", err)
	}
	return out, nil
}

// SetServiceBackupSchedule stores when a service's dumps are taken and
// how many are kept; the caller checks the schedule. It returns an error
// wrapping ErrNotFound for an unknown service.
func (s *Store) SetServiceBackupSchedule(ctx context.Context, service, schedule string, keep int) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, "UPDATE services SET backup_schedule = ?, backup_keep = ? WHERE name = ?", schedule, keep, service)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("schedule backups of service %s: %w", service, err)
	}
	return nil
}

// ServiceBackedUp records when a service's data was last dumped, with
// service:backed-up (or, restored, service:restored).
func (s *Store) ServiceBackedUp(ctx context.Context, service string, restored bool) error {
	err := s.write(ctx, func(tx *wtx) error {
		typ, msg := EventServiceBackedUp, "dump of service "+service+" taken"
		if restored {
			typ, msg = EventServiceRestored, "service "+service+" restored from a dump"
		} else {
			res, err := tx.ExecContext(ctx, "UPDATE services SET last_backup_at = ? WHERE name = ?", toDB(now()), service)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return ErrNotFound
			}
		}
		_, err := tx.event(ctx, typ, "", msg, map[string]any{"service": service})
		return err
	})
	if err != nil {
		return fmt.Errorf("record backup of service %s: %w", service, err)
	}
	return nil
}

// SetServiceExpose stores the host address the service's port is
// published on ("" for none) with service:exposed. It returns an error
// wrapping ErrNotFound for an unknown service.
func (s *Store) SetServiceExpose(ctx context.Context, service, addr string) error {
	err := s.write(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, "UPDATE services SET expose = ? WHERE name = ?", addr, service)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		msg := fmt.Sprintf("service %s published on %s", service, addr)
		if addr == "" {
			msg = fmt.Sprintf("service %s no longer published on the host", service)
		}
		_, err = tx.event(ctx, EventServiceExposed, "", msg, map[string]any{"service": service, "address": addr})
		return err
	})
	if err != nil {
		return fmt.Errorf("expose service %s: %w", service, err)
	}
	return nil
}

// SetServiceMajor records that the service's data is now of major, on
// volume, with service:upgraded. It returns an error wrapping ErrNotFound
// for an unknown service.
func (s *Store) SetServiceMajor(ctx context.Context, service string, major int, volume string) error {
	err := s.write(ctx, func(tx *wtx) error {
		var from int
		err := tx.QueryRowContext(ctx, "SELECT major FROM services WHERE name = ?", service).Scan(&from)
		if err != nil {
			return translate(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE services SET major = ?, volume = ? WHERE name = ?", major, volume, service); err != nil {
			return err
		}
		_, err = tx.event(ctx, EventServiceUpgraded, "", fmt.Sprintf("service %s upgraded from %d to %d", service, from, major),
			map[string]any{"service": service, "from": from, "to": major})
		return err
	})
	if err != nil {
		return fmt.Errorf("upgrade service %s: %w", service, err)
	}
	return nil
}
