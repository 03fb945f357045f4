package metrics

import "testing"

func TestDiskBytes(t *testing.T) {
	m := New()
	m.DiskUsage("images", 3<<20)
	m.DiskUsage("logs", 42)
	m.DiskUsage("images", 2<<20) // a later measurement replaces the first
	fams := scrape(t, m.Handler())
	if got := value(fams, "xcloud_disk_bytes", map[string]string{"kind": "images"}); got != 2<<20 {
		t.Errorf("xcloud_disk_bytes{kind=images} = %v, want %d", got, 2<<20)
	}
	if got := value(fams, "xcloud_disk_bytes", map[string]string{"kind": "logs"}); got != 42 {
		t.Errorf("xcloud_disk_bytes{kind=logs} = %v, want 42", got)
	}
}
