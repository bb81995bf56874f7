package bench

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVRRPConfigRender(t *testing.T) {
	master := vrrpConfig{RouterID: "node-1", State: "MASTER", Interface: "eth0", VRID: 51, Priority: 150,
		AdvertInt: 100 * time.Millisecond, VIP: netip.MustParseAddr("10.213.7.200")}
	got, err := master.render()
	if err != nil {
		t.Fatal(err)
	}
	want := `global_defs {
    router_id node-1
    vrrp_version 3
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.1
    virtual_ipaddress {
        10.213.7.200/32 dev eth0
    }
}
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("render (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		name    string
		change  func(*vrrpConfig)
		advert  string // the advert_int line, when render succeeds
		wantErr string
	}{
		{name: "whole seconds", change: func(v *vrrpConfig) { v.AdvertInt = time.Second }, advert: "advert_int 1"},
		{name: "centiseconds", change: func(v *vrrpConfig) { v.AdvertInt = 30 * time.Millisecond }, advert: "advert_int 0.03"},
		{name: "VRRPv3 maximum", change: func(v *vrrpConfig) { v.AdvertInt = 40950 * time.Millisecond }, advert: "advert_int 40.95"},
		{name: "not centiseconds", change: func(v *vrrpConfig) { v.AdvertInt = 15 * time.Millisecond }, wantErr: "advert_int 15ms"},
		{name: "zero interval", change: func(v *vrrpConfig) { v.AdvertInt = 0 }, wantErr: "advert_int 0s"},
		{name: "too long", change: func(v *vrrpConfig) { v.AdvertInt = 41 * time.Second }, wantErr: "advert_int 41s"},
		{name: "bad state", change: func(v *vrrpConfig) { v.State = "master" }, wantErr: `state "master"`},
		{name: "priority 255 is the owner's", change: func(v *vrrpConfig) { v.Priority = 255 }, wantErr: "priority 255"},
		{name: "VRID 0", change: func(v *vrrpConfig) { v.VRID = 0 }, wantErr: "virtual_router_id 0"},
		{name: "IPv6 VIP", change: func(v *vrrpConfig) { v.VIP = netip.MustParseAddr("fd00::200") }, wantErr: "VIP fd00::200"},
		{name: "no interface", change: func(v *vrrpConfig) { v.Interface = "" }, wantErr: "interface are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := master
			tc.change(&v)
			got, err := v.render()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("render = %v; want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, "    "+tc.advert+"\n") {
				t.Errorf("render:\n%s\nwant the line %q", got, tc.advert)
			}
		})
	}
}
