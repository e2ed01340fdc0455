// Package pluginpb holds the generated gRPC protocol between sia-agent and
// its provider plugins. Provider authors use package sdk instead.
package pluginpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative plugin.proto
