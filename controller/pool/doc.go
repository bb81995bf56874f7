// Package pool writes IPAddressPool status: addresses assigned and available
// per family, the Ready and Conflicting conditions, and status.lastValid,
// the version of the pool the model uses (config.Decisions), which every
// process reads back to build the same model. Writes are batched:
// allocation changes only mark the status dirty, and one pass per interval
// writes the pools whose status actually changed, so a burst of thousands of
// Services costs a handful of pool writes, not one per Service.
package pool
