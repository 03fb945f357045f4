package daemon

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/xcloud-dev/xcloud/store"
)

// Limits caps an app's containers. Zero fields fall back to the defaults
// from xcloud.toml, where zero means no cap.
type Limits struct {
	MemoryBytes int64   `json:"memory,omitempty"`
	CPUs        float64 `json:"cpus,omitempty"`
	Pids        int64   `json:"pids,omitempty"`
}

// over returns l with its unset fields taken from def.
func (l Limits) over(def Limits) Limits {
	if l.MemoryBytes == 0 {
		l.MemoryBytes = def.MemoryBytes
	}
	if l.CPUs == 0 {
		l.CPUs = def.CPUs
	}
	if l.Pids == 0 {
		l.Pids = def.Pids
	}
	return l
}

// appLimits returns the caps in force for the app's containers.
func (d *Daemon) appLimits(ctx context.Context, app string) (Limits, error) {
	l, err := d.Limits(ctx, app)
	return l.Effective, err
}

// AppLimits are an app's container caps: its own (zero fields: the
// default) and the ones in force, defaults filled in.
// In JSON each cap is null when there is none (in own: when the default
// applies); memory is in bytes.
type AppLimits struct {
	Own       Limits `json:"own"`
	Effective Limits `json:"effective"`
}

// MarshalJSON implements json.Marshaler. Limits' own JSON is how the store
// keeps them, so the wire format is written out here.
func (l AppLimits) MarshalJSON() ([]byte, error) {
	type caps struct {
		MemoryBytes *int64   `json:"memory_bytes"`
		CPUs        *float64 `json:"cpus"`
		Pids        *int64   `json:"pids"`
	}
	wire := func(l Limits) caps {
		var c caps
		if l.MemoryBytes != 0 {
			c.MemoryBytes = &l.MemoryBytes
		}
		if l.CPUs != 0 {
			c.CPUs = &l.CPUs
		}
		if l.Pids != 0 {
			c.Pids = &l.Pids
		}
		return c
	}
	return json.Marshal(struct {
		Own       caps `json:"own"`
		Effective caps `json:"effective"`
	}{wire(l.Own), wire(l.Effective)})
}

// Limits returns the app's caps.
func (d *Daemon) Limits(ctx context.Context, app string) (AppLimits, error) {
	a, err := d.store.GetApp(ctx, app)
	if err != nil {
		return AppLimits{}, err
	}
	var l Limits
	if len(a.Limits) > 0 {
		if err := json.Unmarshal(a.Limits, &l); err != nil {
			return AppLimits{}, fmt.Errorf("limits of %s: %w", app, err)
		}
	}
	return AppLimits{Own: l, Effective: l.over(d.opts.Limits)}, nil
}

// SetLimits saves the app's own caps (zero fields: the default). They
// apply to containers started from then on.
func (d *Daemon) SetLimits(ctx context.Context, app string, l Limits) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := d.store.SetLimits(ctx, app, b); err != nil {
		return err
	}
	d.record(ctx, store.EventLimitsChanged, app, "container limits of "+app+" changed",
		map[string]any{"memory": l.MemoryBytes, "cpus": l.CPUs, "pids": l.Pids})
	return nil
}
