package loadtest_test

import (
	"fmt"

	"github.com/gochannels/gochannels/tools/loadtest"
)

func ExampleParseServerSpecs() {
	specs, err := loadtest.ParseServerSpecs("bare,gochannels:memory,gochannels:redis:2")
	if err != nil {
		panic(err)
	}
	for _, s := range specs {
		fmt.Printf("%s: server %s, layer %q, procs %d\n", s, s.Server, s.Layer, s.Procs)
	}
	// Output:
	// bare: server bare, layer "", procs 0
	// gochannels:memory: server gochannels, layer "memory", procs 0
	// gochannels:redis:2: server gochannels, layer "redis", procs 2
}

func ExampleParseShapes() {
	shapes, err := loadtest.ParseShapes("scaling", 10000)
	if err != nil {
		panic(err)
	}
	for _, s := range shapes {
		fmt.Println(s, s.Conns())
	}
	// Output:
	// 1x10 10
	// 1x100 100
	// 1x1000 1000
	// 1x10000 10000
	// 10x10 100
	// 1000x10 10000
}
