package daemon

import "time"

// Observer receives the daemon's measurements, for metrics. Calls are made
// on the deploy and supervision paths, so implementations must be cheap
// and must not block.
type Observer interface {
	// DeployFinished is called once per release that went live
	// (succeeded) or failed, by push, rollback, config change or restart.
	DeployFinished(app string, succeeded bool)
	// BuildFinished reports an image build's outcome ("succeeded",
	// "failed" or "canceled") and how long it ran, queueing excluded.
	BuildFinished(app, outcome string, elapsed time.Duration)
	// BuildQueueChanged reports how many builds wait for a build slot.
	BuildQueueChanged(waiting int)
	// ProcessRestarted is called when the daemon restarted a crashed
	// container of the app.
	ProcessRestarted(app, process string)
	// DiskUsage reports the bytes the daemon keeps on disk of one kind
	// (images, build_cache, repos, static, logs), measured now and then.
	DiskUsage(kind string, bytes int64)
}

// nopObserver is the Observer used when Options.Observer is nil.
type nopObserver struct{}

func (nopObserver) DeployFinished(string, bool)                 {}
func (nopObserver) BuildFinished(string, string, time.Duration) {}
func (nopObserver) BuildQueueChanged(int)                       {}
func (nopObserver) ProcessRestarted(string, string)             {}
func (nopObserver) DiskUsage(string, int64)                     {}
