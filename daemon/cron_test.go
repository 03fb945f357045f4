package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

func TestCronJobsIDs(t *testing.T) {
	entries := []buildpacks.CronJob{
		{Command: "echo a", Schedule: "@daily"},
		{Command: "echo b", Schedule: " @daily "},
		{Command: "echo a", Schedule: "@daily"}, // a verbatim repeat is one job
	}
	jobs := cronJobs(entries)
	if len(jobs) != 2 {
		t.Fatalf("jobs = %+v, want 2", jobs)
	}
	if jobs[0].ID == jobs[1].ID || len(jobs[0].ID) != 8 {
		t.Errorf("IDs %q and %q: want two distinct 8-character IDs", jobs[0].ID, jobs[1].ID)
	}
	if jobs[1].Schedule != "@daily" {
		t.Errorf("schedule kept as %q, want it trimmed", jobs[1].Schedule)
	}
	// The ID follows the job, not its position: reordering keeps it.
	again := cronJobs([]buildpacks.CronJob{entries[1], entries[0]})
	if again[1].ID != jobs[0].ID {
		t.Errorf("ID changed when the job moved: %q vs %q", again[1].ID, jobs[0].ID)
	}
}

func TestCheckCronIntervals(t *testing.T) {
	ok := []buildpacks.CronJob{{Command: "x", Schedule: "* * * * *"}, {Command: "y", Schedule: "@every 1m"}, {Command: "z", Schedule: "@hourly"}}
	if err := checkCronIntervals(ok, time.Minute); err != nil {
		t.Errorf("checkCronIntervals(%v) = %v", ok, err)
	}
	tooOften := append(ok, buildpacks.CronJob{Command: "w", Schedule: "@every 5s"})
	err := checkCronIntervals(tooOften, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "app.json cron[3].schedule: runs every 5s") {
		t.Errorf("checkCronIntervals(@every 5s) = %v, want it to name cron[3].schedule", err)
	}
	if err := checkCronIntervals(tooOften, time.Second); err != nil {
		t.Errorf("with a 1s minimum: %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 10}
	tb.Write([]byte("12345"))
	if got := string(tb.Bytes()); got != "12345" {
		t.Errorf("short output = %q", got)
	}
	tb.Write([]byte("67890abc"))
	if got := string(tb.Bytes()); got != "[earlier output cut]\n4567890abc" {
		t.Errorf("long output = %q, want its last 10 bytes, marked", got)
	}
}
