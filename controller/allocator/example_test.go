package allocator_test

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/portico-lb/portico/controller/allocator"
	"github.com/portico-lb/portico/internal/iprange"
)

func Example() {
	prod, _ := iprange.Parse("192.0.2.10/32")
	spare, _ := iprange.Parse("198.51.100.0/24")
	a := allocator.New(allocator.Options{})
	a.SetPools([]allocator.Pool{
		{Name: "prod", Ranges: []iprange.Range{prod}},
		{Name: "spare", Ranges: []iprange.Range{spare}, AvoidBuggyIPs: true},
	})
	order := []string{"prod", "spare"}

	// Two Services with the same sharing key and distinct ports share one address.
	web := allocator.Owner{Key: "shop/web", SharingKey: "shop", Ports: []allocator.Port{{Protocol: "TCP", Port: 443}}}
	dns := allocator.Owner{Key: "shop/dns", SharingKey: "shop", Ports: []allocator.Port{{Protocol: "UDP", Port: 53}}}
	for _, o := range []allocator.Owner{web, dns} {
		g := a.Settle(allocator.Claim{Owner: o, Families: []bool{false}, KeepIn: order, PickFrom: order}).Grants[0]
		fmt.Println(o.Key, g.IP, g.Pool, g.Err)
	}

	// An exclusive Service cannot join them; it may take a requested address elsewhere.
	db := allocator.Owner{Key: "shop/db"}
	request := func(ip string) allocator.Grant {
		c := allocator.Claim{Owner: db, Families: []bool{false}, Requested: []netip.Addr{netip.MustParseAddr(ip)}, KeepIn: order, TakeFrom: order}
		return a.Settle(c).Grants[0]
	}
	err := request("192.0.2.10").Err
	fmt.Println(err, errors.Is(err, allocator.ErrInUse))
	fmt.Println(errors.Is(request("198.51.100.255").Err, allocator.ErrNotInPools))
	g := request("198.51.100.7")
	fmt.Println(g.Pool, g.Err)

	fmt.Printf("%+v\n", a.Usage("prod"))
	fmt.Printf("%+v\n", a.Usage("spare"))
	// Output:
	// shop/web 192.0.2.10 prod <nil>
	// shop/dns 192.0.2.10 prod <nil>
	// allocator: 192.0.2.10 is in use: held by shop/dns, and shop/db does not share (no sharing key) true
	// true
	// spare <nil>
	// {AssignedV4:1 AssignedV6:0 AvailableV4:0 AvailableV6:0}
	// {AssignedV4:1 AssignedV6:0 AvailableV4:253 AvailableV6:0}
}
