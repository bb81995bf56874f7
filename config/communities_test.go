package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

func TestParseCommunity(t *testing.T) {
	notStd := `not "<asn>:<value>", "large:<global>:<local1>:<local2>" or a well-known name (` + wellKnownNames + `)`
	tests := []struct {
		in      string
		want    community
		wantErr string
	}{
		{in: "65000:100", want: community{standard: 65000<<16 | 100}},
		{in: "0:0", want: community{standard: 0}},
		{in: "65535:65535", want: community{standard: 0xFFFFFFFF}},
		{in: "00065000:0100", want: community{standard: 65000<<16 | 100}},
		{in: "no-export", want: community{standard: 0xFFFFFF01}},
		{in: "no-advertise", want: community{standard: 0xFFFFFF02}},
		{in: "no-export-subconfed", want: community{standard: 0xFFFFFF03}},
		{in: "local-as", want: community{standard: 0xFFFFFF03}},
		{in: "no-peer", want: community{standard: 0xFFFFFF04}},
		{in: "blackhole", want: community{standard: 0xFFFF029A}},
		{in: "graceful-shutdown", want: community{standard: 0xFFFF0000}},
		{in: "accept-own", want: community{standard: 0xFFFF0001}},
		{in: "llgr-stale", want: community{standard: 0xFFFF0006}},
		{in: "no-llgr", want: community{standard: 0xFFFF0007}},
		{in: "large:1:2:3", want: community{large: true, parts: [3]uint32{1, 2, 3}}},
		{in: "large:4294967295:0:4294967295", want: community{large: true, parts: [3]uint32{0xFFFFFFFF, 0, 0xFFFFFFFF}}},
		{in: "65536:1", wantErr: "65536 does not fit in 16 bits (at most 65535)"},
		{in: "1:65536", wantErr: "65536 does not fit in 16 bits (at most 65535)"},
		{in: "-1:1", wantErr: `"-1" is not a decimal number`},
		{in: "+1:1", wantErr: `"+1" is not a decimal number`},
		{in: "1:", wantErr: `"" is not a decimal number`},
		{in: ":1", wantErr: `"" is not a decimal number`},
		{in: "1:2:3", wantErr: `"2:3" is not a decimal number`},
		{in: " 1:2", wantErr: `" 1" is not a decimal number`},
		{in: "0x10:1", wantErr: `"0x10" is not a decimal number`},
		{in: "", wantErr: notStd},
		{in: "65000", wantErr: notStd},
		{in: "NO-EXPORT", wantErr: notStd},
		{in: "no_export", wantErr: notStd},
		{in: "large:1:2", wantErr: `a large community has three parts: "large:<global>:<local1>:<local2>"`},
		{in: "large:1:2:3:4", wantErr: `a large community has three parts: "large:<global>:<local1>:<local2>"`},
		{in: "large:", wantErr: `a large community has three parts: "large:<global>:<local1>:<local2>"`},
		{in: "large:1:2:4294967296", wantErr: "4294967296 does not fit in 32 bits (at most 4294967295)"},
		{in: "large:a:2:3", wantErr: `"a" is not a decimal number`},
		{in: "large:1::3", wantErr: `"" is not a decimal number`},
		{in: "LARGE:1:2:3", wantErr: `"LARGE" is not a decimal number`},
		{in: "99999999999999999999:1", wantErr: "99999999999999999999 does not fit in 16 bits (at most 65535)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseCommunity(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("parseCommunity(%q) = %+v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCommunity(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("parseCommunity(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCommunities(t *testing.T) {
	o := object{kindBGPAdv, "adv"}
	std, large, problems := parseCommunities(o, []string{
		"65000:2", "large:3:2:1", "no-export", "65000:1", "large:1:2:3", "65000:2", "large:1:2:3", "local-as", "no-export-subconfed",
	})
	diffProblems(t, problems, nil)
	if d := cmp.Diff([]uint32{65000<<16 | 1, 65000<<16 | 2, 0xFFFFFF01, 0xFFFFFF03}, std); d != "" {
		t.Errorf("standard communities (-want +got):\n%s", d)
	}
	if d := cmp.Diff([][3]uint32{{1, 2, 3}, {3, 2, 1}}, large); d != "" {
		t.Errorf("large communities (-want +got):\n%s", d)
	}

	_, _, problems = parseCommunities(o, []string{"1:1", "bad", "large:1", "2:2"})
	diffProblems(t, problems, []Problem{
		perr(kindBGPAdv, "adv", "spec.communities[1]", v1beta1.ReasonInvalid,
			`invalid community "bad": not "<asn>:<value>", "large:<global>:<local1>:<local2>" or a well-known name (`+wellKnownNames+`)`),
		perr(kindBGPAdv, "adv", "spec.communities[2]", v1beta1.ReasonInvalid,
			`invalid community "large:1": a large community has three parts: "large:<global>:<local1>:<local2>"`),
	})

	std, large, problems = parseCommunities(o, nil)
	if std != nil || large != nil || problems != nil {
		t.Errorf("parseCommunities(nil) = %v, %v, %v; want all nil", std, large, problems)
	}
}

// FuzzParseCommunity checks that any string either fails or gives a value
// that prints back to a string parsing to the same value.
func FuzzParseCommunity(f *testing.F) {
	for _, seed := range []string{
		"65000:100",            // standard
		"no-export",            // well-known
		"large:1:2:3",          // large
		"large:4294967296:0:0", // 33 bits
		"1:2:3",                // too many parts
		"",                     // empty
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCommunity(s)
		if err != nil {
			return
		}
		var again string
		if c.large {
			again = fmt.Sprintf("large:%d:%d:%d", c.parts[0], c.parts[1], c.parts[2])
		} else {
			again = fmt.Sprintf("%d:%d", c.standard>>16, c.standard&0xFFFF)
		}
		c2, err := parseCommunity(again)
		if err != nil || c2 != c {
			t.Fatalf("parseCommunity(%q) = %+v; %q parses to %+v, %v", s, c, again, c2, err)
		}
	})
}

func TestWellKnownNamesAreAccepted(t *testing.T) {
	// The list in error messages and the switch must not drift apart.
	for _, name := range strings.Split(wellKnownNames, ", ") {
		name, alias, _ := strings.Cut(name, " (")
		for _, n := range []string{name, strings.TrimSuffix(alias, ")")} {
			if n == "" {
				continue
			}
			if _, ok := wellKnown(n); !ok {
				t.Errorf("%q is listed but not accepted", n)
			}
		}
	}
	if _, ok := wellKnown("internet"); ok {
		t.Error(`"internet" is accepted but not listed`)
	}
}
