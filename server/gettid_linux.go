package main

import "syscall"

// gettid is the OS thread the calling goroutine runs on right now.
func gettid() int { return syscall.Gettid() }
