// Package netns runs Go code inside Linux network namespaces, for the
// speaker's layer-2 sockets and for the test lab.
//
// Linux keeps the network namespace per thread, and a socket belongs for its
// whole life to the namespace of the thread that created it. So code that
// lists a namespace's links or opens sockets in it must run on an OS thread
// that is locked to its goroutine and has entered the namespace; what it
// opened can then be used from any goroutine. Two shapes cover every user:
//
//   - Start: one thread that lives until it is closed (or its context ends)
//     and runs the functions given to Do one at a time, for callers that
//     come back to the namespace again and again (the speaker's reconcile)
//     or that need one thread to stay alive (a parent-death signal is tied
//     to the thread that forked the child).
//   - Run: a throwaway thread for one function (a listener in a lab host, a
//     dial from the lab's client, a probe that unshares a namespace).
//
// Threads are locked and never unlocked: a goroutine that exits while
// locked takes its thread with it, so no other goroutine is ever scheduled
// on a thread in a foreign namespace. The runtime spawns new threads from a
// clean template thread, not from a locked one, so the namespace does not
// leak that way either.
//
// It imports only the standard library and golang.org/x/sys/unix, so every
// part of the module (speaker, e2etest) may use it.
package netns
