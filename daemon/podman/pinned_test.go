package podman

import (
	"net"
	"testing"
)

func TestTopFree(t *testing.T) {
	_, sub, _ := net.ParseCIDR("10.89.3.0/24")
	for _, tc := range []struct {
		used []string
		want string
	}{
		{nil, "10.89.3.254"},
		{[]string{"10.89.3.254"}, "10.89.3.253"},
		{[]string{"10.89.3.254", "10.89.3.253", "10.89.3.2"}, "10.89.3.252"},
	} {
		used := map[string]bool{}
		for _, u := range tc.used {
			used[u] = true
		}
		ip, err := topFree(*sub, used)
		if err != nil || ip.String() != tc.want {
			t.Errorf("topFree(%v) = %v, %v; want %s", tc.used, ip, err, tc.want)
		}
	}
	_, small, _ := net.ParseCIDR("10.0.0.0/30") // .1 and .2 usable
	if ip, err := topFree(*small, map[string]bool{"10.0.0.2": true}); err != nil || ip.String() != "10.0.0.1" {
		t.Errorf("topFree of a /30 with .2 used = %v, %v; want 10.0.0.1", ip, err)
	}
	if _, err := topFree(*small, map[string]bool{"10.0.0.1": true, "10.0.0.2": true}); err == nil {
		t.Error("topFree of a full /30: no error")
	}
	_, tiny, _ := net.ParseCIDR("10.0.0.0/31")
	if _, err := topFree(*tiny, nil); err == nil {
		t.Error("topFree of a /31: no error")
	}
}

func TestPinnedMAC(t *testing.T) {
	mac := pinnedMAC(net.ParseIP("10.89.3.254"))
	if got := net.HardwareAddr(mac).String(); got != "02:58:0a:59:03:fe" {
		t.Errorf("pinnedMAC(10.89.3.254) = %s", got)
	}
	if mac[0]&1 != 0 || mac[0]&2 == 0 {
		t.Errorf("pinnedMAC %s is not a locally administered unicast address", net.HardwareAddr(mac))
	}
}
