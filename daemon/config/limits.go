package config

import (
	"fmt"
	"math"
)

// Bounds of a container's resource caps, shared by [limits] and the
// `resources` command. They are what the kernel and runc accept: a cap
// outside them is saved fine but makes every later container start fail.
const (
	// MinMemory is the smallest memory cap runc and Podman accept.
	MinMemory = 6 << 20
	// MinCPUs gives a CFS quota of 1ms per 100ms period, the kernel's
	// smallest quota.
	MinCPUs = 0.01
	// MaxCPUs is a sanity cap; no single box has more.
	MaxCPUs = 1024
	// MinPids leaves room for a shell and its children.
	MinPids = 16
	// MaxPids is the kernel's PID_MAX_LIMIT on 64-bit: pids.max refuses
	// anything larger.
	MaxPids = 4 << 20
)

// CheckMemory reports whether n bytes is a valid memory cap.
func CheckMemory(n int64) error {
	if n < MinMemory {
		return fmt.Errorf("a memory cap must be at least 6m, got %d bytes", n)
	}
	return nil
}

// CheckCPUs reports whether f is a valid CPU cap.
func CheckCPUs(f float64) error {
	if math.IsNaN(f) || f < MinCPUs || f > MaxCPUs {
		return fmt.Errorf("a CPU cap must be a number from %g to %d, got %g", MinCPUs, MaxCPUs, f)
	}
	return nil
}

// CheckPids reports whether n is a valid cap on processes.
func CheckPids(n int64) error {
	if n < MinPids || n > MaxPids {
		return fmt.Errorf("a pids cap must be a whole number from %d to %d, got %d", MinPids, MaxPids, n)
	}
	return nil
}
