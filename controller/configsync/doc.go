// Package configsync keeps the controller's configuration model current: it
// watches Portico's CRs (and the Secrets and Nodes they refer to), builds the
// model with config.For, records its decisions in each object's
// status.lastValid before it installs the model in ipam (so the model stays
// a function of API state: a restarted controller, a new leader and the
// speakers build the same one), and reports problems as conditions and
// Warning Events on the offending L2Advertisement, BGPPeer or
// BGPAdvertisement. The rest of IPAddressPool status is written by package
// pool.
package configsync
