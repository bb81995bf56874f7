// Package controller wires Portico's controller together: the configuration
// syncer, the Service controller and the pool status writer, sharing one
// ipam. Its sub-packages each do one job; main only parses flags and calls
// Setup.
package controller
