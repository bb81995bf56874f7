// Package configsync keeps the controller's configuration model current: it
// watches Portico's CRs (and the Secrets and Nodes they refer to), builds the
// model with config.For, installs it in ipam, and reports problems as
// conditions and Warning Events on the offending L2Advertisement, BGPPeer or
// BGPAdvertisement. IPAddressPool status is written by package pool.
package configsync
