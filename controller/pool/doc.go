// Package pool writes IPAddressPool status: addresses assigned and available
// per family, and the Ready and Conflicting conditions. (status.lastValid,
// the version the model uses, is recorded by configsync before the model is
// installed.) Writes are batched:
// allocation changes only mark the status dirty, and one pass per interval
// writes the pools whose status actually changed, so a burst of thousands of
// Services costs a handful of pool writes, not one per Service.
package pool
