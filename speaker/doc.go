// Package speaker will hold the per-node speaker: membership, the announcer
// and its layer 2 (ARP/NDP) and BGP back ends. It is empty until the speaker
// issue lands.
package speaker
