// Package scheduler runs health-check probes off the reconcile path: every
// target on its own schedule (interval plus jitter), at most Concurrency
// probes in flight, each bounded by its timeout. The reconciler hands it the
// wanted probes per owner with Set, which never waits for a probe, and gets
// every result through a callback.
//
// The package knows nothing of Kubernetes or of any protocol: it runs
// whatever implements Prober, and its timers are tested with testing/synctest.
package scheduler
