module github.com/gochannels/gochannels/tools

go 1.26.0

require (
	github.com/gobwas/ws v1.5.0
	github.com/gochannels/gochannels v0.0.0
	github.com/gochannels/gochannels/examples v0.0.0
	github.com/redis/go-redis/v9 v9.23.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace (
	github.com/gochannels/gochannels => ../
	github.com/gochannels/gochannels/examples => ../examples
)
