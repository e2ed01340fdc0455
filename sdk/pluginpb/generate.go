package pluginpb

// `make generate` runs this with the generators pinned in the root
// module's tool block and Debian's protoc 3.21.12; `make check-generate`
// fails when the checked-in code is not what they produce.
//go:generate sh -c "protoc --plugin=protoc-gen-go=\"$GOTOOLBIN/protoc-gen-go\" --plugin=protoc-gen-go-grpc=\"$GOTOOLBIN/protoc-gen-go-grpc\" --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto"
