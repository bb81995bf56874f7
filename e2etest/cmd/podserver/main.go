// Command podserver is the lab's stand-in for a pod: it accepts TCP
// connections and answers each with one line naming the pod, its node and
// the client address it saw, so a test can tell which pod served it and
// whether the client's source address was preserved.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "TCP address to listen on")
	pod := flag.String("pod", os.Getenv("POD_NAME"), "pod name to report")
	node := flag.String("node", os.Getenv("NODE_NAME"), "node name to report")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		log.Fatalf("podserver: %v", err)
	}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Printf("podserver: accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "pod=%s node=%s client=%s\n", *pod, *node, c.RemoteAddr())
		}()
	}
}
