package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1beta1 "github.com/portico-lb/portico/api/v1beta1"
)

// wellKnownNames lists the names parseCommunity accepts, for error messages.
const wellKnownNames = "no-export, no-advertise, no-export-subconfed (local-as), no-peer, blackhole, " +
	"graceful-shutdown, accept-own, llgr-stale, no-llgr"

// wellKnown returns the value of a well-known community. It is a switch, not
// a map, so that the table cannot be changed at run time.
func wellKnown(name string) (uint32, bool) {
	switch name {
	case "no-export": // RFC 1997
		return 0xFFFFFF01, true
	case "no-advertise": // RFC 1997
		return 0xFFFFFF02, true
	case "no-export-subconfed", "local-as": // RFC 1997; FRR calls it local-AS
		return 0xFFFFFF03, true
	case "no-peer": // RFC 3765
		return 0xFFFFFF04, true
	case "blackhole": // RFC 7999
		return 0xFFFF029A, true
	case "graceful-shutdown": // RFC 8326
		return 0xFFFF0000, true
	case "accept-own": // RFC 7611
		return 0xFFFF0001, true
	case "llgr-stale": // RFC 9494
		return 0xFFFF0006, true
	case "no-llgr": // RFC 9494
		return 0xFFFF0007, true
	}
	return 0, false
}

// community is a parsed community: standard (32 bits, from "a:b" or a
// well-known name) or large (RFC 8092, "large:a:b:c").
type community struct {
	large    bool
	standard uint32
	parts    [3]uint32
}

func parseCommunity(s string) (community, error) {
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		fields := strings.Split(rest, ":")
		if len(fields) != 3 {
			return community{}, errors.New(`a large community has three parts: "large:<global>:<local1>:<local2>"`)
		}
		var c community
		c.large = true
		for i, f := range fields {
			n, err := parseNumber(f, 32)
			if err != nil {
				return community{}, err
			}
			c.parts[i] = uint32(n)
		}
		return c, nil
	}
	if v, ok := wellKnown(s); ok {
		return community{standard: v}, nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return community{}, fmt.Errorf(`not "<asn>:<value>", "large:<global>:<local1>:<local2>" or a well-known name (%s)`, wellKnownNames)
	}
	a, err := parseNumber(hi, 16)
	if err != nil {
		return community{}, err
	}
	b, err := parseNumber(lo, 16)
	if err != nil {
		return community{}, err
	}
	return community{standard: uint32(a)<<16 | uint32(b)}, nil
}

// parseNumber accepts plain decimal digits only: strconv would also take a
// sign, and its errors name strconv rather than the community.
func parseNumber(s string, bits int) (uint64, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s does not fit in %d bits (at most %d)", s, bits, uint64(1)<<bits-1)
	}
	return n, nil
}

// parseCommunities returns the standard and large communities, each sorted
// and without duplicates: BGP carries both as sets, and a canonical order
// keeps equal specs equal in the model.
func parseCommunities(o object, in []string) ([]uint32, [][3]uint32, []Problem) {
	var (
		std      []uint32
		large    [][3]uint32
		problems []Problem
	)
	for i, s := range in {
		c, err := parseCommunity(s)
		if err != nil {
			problems = append(problems, o.errorf(indexed("spec.communities", i), v1beta1.ReasonInvalid, "invalid community %q: %v", s, err))
			continue
		}
		if c.large {
			large = append(large, c.parts)
		} else {
			std = append(std, c.standard)
		}
	}
	slices.Sort(std)
	slices.SortFunc(large, func(a, b [3]uint32) int { return slices.Compare(a[:], b[:]) })
	return slices.Compact(std), slices.Compact(large), problems
}
