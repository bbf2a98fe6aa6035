// SPDX-License-Identifier: Apache-2.0
// gohot.go -- test workload for Go pc tables: one hot loop, built stripped
// (-ldflags=-s) by the test. Runs until killed.
package main

var sink uint64

//go:noinline
func hotLoop(n int) uint64 {
	x := sink
	for i := 0; i < n; i++ { // LINE-GO-LOOP
		x = x*31 + uint64(i) // LINE-GO-LOOP
	}
	return x
}

func main() {
	for {
		sink += hotLoop(1 << 20)
	}
}
