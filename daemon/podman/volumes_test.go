package podman

import (
	"errors"
	"testing"

	"github.com/containers/podman/v5/pkg/specgen"
)

func TestMountFailure(t *testing.T) {
	podmanSays := errors.New("identifying source directory for copy up into volume xcloud-i-data: lstat /var/lib/containers/storage/overlay/x/merged/app/data: not a directory")
	if err := mountFailure(podmanSays); !errors.Is(err, ErrMountPath) || !errors.Is(err, podmanSays) {
		t.Errorf("Podman's copy-up refusal: %v, want ErrMountPath wrapping it", err)
	}
	other := errors.New("no such image")
	if err := mountFailure(other); err != other {
		t.Errorf("another error became %v", err)
	}
	if mountFailure(nil) != nil {
		t.Error("nil became an error")
	}
}

func TestMountsSpec(t *testing.T) {
	s := specgen.NewSpecGenerator("img", false)
	mountsSpec(s, []Mount{
		{Volume: "xcloud-i-data", Path: "/app/data"},
		{Volume: "xcloud-i-conf", Path: "/conf", ReadOnly: true},
		{HostDir: "/srv/media", Path: "/media", ReadOnly: true},
	})
	if len(s.Volumes) != 2 || s.Volumes[0].Name != "xcloud-i-data" || s.Volumes[0].Dest != "/app/data" || len(s.Volumes[0].Options) != 0 ||
		s.Volumes[1].Options[0] != "ro" {
		t.Errorf("named volumes: %+v %+v", s.Volumes[0], s.Volumes[1])
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Type != "bind" || s.Mounts[0].Source != "/srv/media" || s.Mounts[0].Destination != "/media" ||
		len(s.Mounts[0].Options) != 2 || s.Mounts[0].Options[0] != "ro" {
		t.Errorf("bind mounts: %+v", s.Mounts)
	}
}
